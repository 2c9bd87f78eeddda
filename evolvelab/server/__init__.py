"""Serve a pipeline to agents: REST (FastAPI) and MCP over the same Memory API.

- :mod:`~evolvelab.server.keys`: tenants and their hashed API keys (``evolvelab keys``).
- :mod:`~evolvelab.server.writer`: the one writer: group commit of concurrent adds.
- :mod:`~evolvelab.server.service`: the memory operations every transport shares,
  with the tenant applied to every scope.
- :mod:`~evolvelab.server.app`: the FastAPI app (``evolvelab serve``).
- :mod:`~evolvelab.server.mcp_tools`: the MCP tools (``evolvelab mcp``, and ``/mcp``).

Nothing here is imported by ``import evolvelab``; FastAPI, uvicorn and the MCP SDK are
imported when a server is built. Deployment notes: ``docs/serve.md``.
"""
