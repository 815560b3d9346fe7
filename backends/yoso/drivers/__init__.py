"""Drivers of the YOSO chip model (:mod:`snnc.backends.yoso.sim`): simulate a deployment on a dataset
(:mod:`.simulate`), sweep hardware values (:mod:`.sweep`), replay packet traces on the mesh (:mod:`.trace`),
plots (:mod:`.plots`) and Dask distribution (:mod:`.distributed`). Library code: the command line that
wires them (``snnc simulate``, ``snnc sweep``, ``snnc noc replay``) lives in :mod:`snnc.cli`."""
