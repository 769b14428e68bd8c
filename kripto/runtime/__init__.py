"""The runtime: what assembles and runs Kripto on Temporal (the worker, its schedules, the
Worker Deployment and drain, notifications started from outside a workflow). Below the faces
and the services; kripto.temporal holds only the low plumbing it uses."""
