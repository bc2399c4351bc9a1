"""An aiortc participant for the interop test.

Speaks JSON lines: it prints {"type": "offer", "sdp", "mid"} first, reads
{"type": "answer", "sdp"} on stdin, then answers the node's renegotiations on
the "sfu" data channel by itself and prints {"type": "frames", "counts":
{participant: n}} every second, plus {"type": "srtp", ...} once connected.
It sends a synthetic VP8 camera without simulcast.
"""

import asyncio
import json
import sys

import aioice.ice
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import VideoStreamTrack
from av import VideoFrame

# Loopback only: the test host's other interfaces are not part of the test.
aioice.ice.get_host_addresses = lambda use_ipv4=True, use_ipv6=False: ["127.0.0.1"]


class Moving(VideoStreamTrack):
    """Frames whose content changes, so an encoder has something to send."""

    def __init__(self):
        super().__init__()
        self.n = 0

    async def recv(self):
        pts, time_base = await self.next_timestamp()
        self.n += 1
        frame = VideoFrame(width=320, height=240)
        for plane in frame.planes:
            plane.update(bytes([(self.n * 7) % 256]) * plane.buffer_size)
        frame.pts = pts
        frame.time_base = time_base
        return frame


def emit(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


async def main():
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    channel = pc.createDataChannel("sfu")
    transceiver = pc.addTransceiver(Moving(), direction="sendonly")
    tracks = {}  # mid -> participant/source (audio sections, assigned video slots)
    counts = {}

    # The data channel's framing (protocol::channel): a large message comes
    # as "+part"... then ".last"; a whole one is plain JSON.
    partial = []

    @channel.on("message")
    def on_message(message):
        if message[:1] in ("+", "."):
            partial.append(message[1:])
            if message[0] == "+":
                return
            message = "".join(partial)
            partial.clear()
        msg = json.loads(message)
        if msg["type"] == "assign":
            # A video slot carries another track from its next packet on.
            t = msg.get("track")
            if t:
                tracks[msg["mid"]] = t["participant"] + "/" + t["source"]
            else:
                tracks.pop(msg["mid"], None)
        if msg["type"] == "offer":
            for t in msg["tracks"]:
                tracks[t["mid"]] = t["participant"] + "/" + t["source"]

            async def renegotiate():
                try:
                    await pc.setRemoteDescription(RTCSessionDescription(msg["sdp"], "offer"))
                    await pc.setLocalDescription(await pc.createAnswer())
                    channel.send(json.dumps({"type": "answer", "sdp": pc.localDescription.sdp}))
                except Exception as e:
                    print(f"renegotiation failed: {e!r}", file=sys.stderr, flush=True)

            asyncio.ensure_future(renegotiate())

    @pc.on("track")
    def on_track(track):
        mid = next((t.mid for t in pc.getTransceivers() if t.receiver.track is track), None)

        print(f"track {track.kind} on mid {mid}", file=sys.stderr, flush=True)

        async def consume():
            while True:
                try:
                    await track.recv()
                except Exception as e:
                    print(f"track ended: {e!r}", file=sys.stderr, flush=True)
                    return
                key = tracks.get(mid)
                if key:
                    counts[key] = counts.get(key, 0) + 1

        if track.kind == "video":
            asyncio.ensure_future(consume())

    await pc.setLocalDescription(await pc.createOffer())
    emit({"type": "offer", "sdp": pc.localDescription.sdp, "mid": transceiver.mid})
    line = await asyncio.get_event_loop().run_in_executor(None, sys.stdin.readline)
    answer = json.loads(line)
    await pc.setRemoteDescription(RTCSessionDescription(answer["sdp"], "answer"))
    reported = False
    while True:
        await asyncio.sleep(1)
        emit({"type": "frames", "counts": counts, "state": pc.connectionState})
        if not reported and pc.connectionState == "connected":
            reported = True
            try:
                dtls = pc.getSenders()[0].transport
                emit({"type": "srtp", "profile": str(getattr(dtls, "_srtp_profile", "unknown"))})
            except Exception as e:  # diagnostics only
                emit({"type": "srtp", "profile": f"unknown ({e})"})


if __name__ == "__main__":
    asyncio.run(main())
