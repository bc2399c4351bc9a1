// The floor for the chat fan-out benchmark (issue 8, section 2; run by
// `cargo xtask bench`, xtask/src/bench/fanout.rs): the least a Durable Object
// can do to broadcast, so the Room object is measured against the same
// workerd doing nothing else. One object, hibernating WebSockets, every
// message sent on as it came to every other socket. No parsing, no storage,
// no identity: what the room adds on top is what the benchmark shows.

import { DurableObject } from "cloudflare:workers";

export class Broadcast extends DurableObject {
  async fetch(request) {
    if (request.headers.get("Upgrade")?.toLowerCase() !== "websocket") {
      return new Response("expected a WebSocket upgrade", { status: 426 });
    }
    const [client, server] = Object.values(new WebSocketPair());
    this.ctx.acceptWebSocket(server);
    return new Response(null, { status: 101, webSocket: client });
  }

  webSocketMessage(ws, message) {
    for (const other of this.ctx.getWebSockets()) {
      if (other !== ws) {
        try {
          other.send(message);
        } catch {
          // A socket that closed meanwhile; the others still get it.
        }
      }
    }
  }

  webSocketClose(ws, code) {
    try {
      ws.close(code === 1005 ? 1000 : code, "bye");
    } catch {
      // Already closed.
    }
  }
}

// The front door, like the real worker's: `/healthz` for the launcher,
// `/ws` handed to the one object, as `/rooms/{id}/ws` is to a room.
export default {
  async fetch(request, env) {
    const { pathname } = new URL(request.url);
    if (pathname === "/healthz") {
      return new Response("ok");
    }
    if (pathname === "/ws") {
      return env.BROADCAST.get(env.BROADCAST.idFromName("floor")).fetch(request);
    }
    return new Response("not found", { status: 404 });
  },
};
