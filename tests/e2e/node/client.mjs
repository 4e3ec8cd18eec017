// A client nobody here wrote: node's `ws`. Usage: node client.mjs URL PROTOCOL_VERSION SUBPROTOCOL
// Echoes a text, a binary, a fragmented 300 KiB message and a ping through the server, closes
// with 1000, and prints what came back as one JSON line.
import WebSocket from "ws";

const [url, version, subprotocol] = process.argv.slice(2);
const socket = new WebSocket(url, subprotocol, { protocolVersion: Number(version) });
const received = [];
const result = { protocol: null, messages: received, pong: null, closeCode: null };
const big = Buffer.alloc(300 * 1024, 7);

socket.on("open", () => {
  result.protocol = socket.protocol;
  socket.send("hello from node");
  socket.send(Buffer.from([1, 2, 3, 255]));
  socket.send(big.subarray(0, 100 * 1024), { fin: false });
  socket.send(big.subarray(100 * 1024, 200 * 1024), { fin: false });
  socket.send(big.subarray(200 * 1024), { fin: true });
  socket.ping("are you there");
});
socket.on("pong", (data) => { result.pong = data.toString(); });
socket.on("message", (data, isBinary) => {
  received.push(isBinary ? { binary: data.length, sum: data.reduce((a, b) => a + b, 0) } : { text: data.toString() });
  if (received.length === 3) socket.close(1000, "done");
});
socket.on("close", (code) => {
  result.closeCode = code;
  console.log(JSON.stringify(result));
  clearTimeout(timer);
});
socket.on("error", (error) => { console.log(JSON.stringify({ error: String(error) })); process.exit(1); });
const timer = setTimeout(() => { console.log(JSON.stringify({ error: "timeout", ...result })); process.exit(1); }, 20000);
