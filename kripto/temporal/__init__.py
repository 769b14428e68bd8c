"""Temporal plumbing: the client, the worker's assembly and the schedules. The domain code in
`kripto/` does not import this package."""
