class ReferenceBackend: pass
