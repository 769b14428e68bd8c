"""Low Temporal plumbing: the client, the payload codec and converter, the interceptors, failure
reading and the search-attribute keys. It imports no workflow and no settings at module level;
the runtime that assembles the worker is kripto.runtime."""
