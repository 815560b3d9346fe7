"""The YOSO neuromorphic accelerator backend: hardware description, deployment, simulation."""
