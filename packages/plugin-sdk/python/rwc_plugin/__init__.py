"""RealWorldClaw plugin SDK for Python (standard library only).

The Python mirror of @rwc/plugin-sdk, in snake_case. A plugin's entry file defines ``plugin``::

    from rwc_plugin import Plugin

    plugin = Plugin()

    @plugin.entry(input={"type": "object", "required": ["name"]})
    async def hello(args, ctx):
        ctx.log.info("saying hello")
        return f"hello {args['name']}"

    @plugin.lifecycle("startup")
    async def started(ctx):
        ctx.push_message("up")

or the same as one call: ``plugin = define_plugin(entries={"hello": hello}, startup=started)``.

Handlers may be ``async def`` (run on the plugin's event loop) or plain functions (run in a thread
pool, so a slow one never blocks the loop that answers the host's heartbeats). In async handlers
``await`` the context's host calls; in plain functions they return the value directly.
"""

from .sdk import (
    BusList,
    Plugin,
    PluginError,
    define_plugin,
    HOST_API_VERSION,
    PROTOCOL_VERSIONS,
    SDK_VERSION,
)

__all__ = [
    "BusList",
    "Plugin",
    "PluginError",
    "define_plugin",
    "HOST_API_VERSION",
    "PROTOCOL_VERSIONS",
    "SDK_VERSION",
]
