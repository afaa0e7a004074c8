#!/usr/bin/env node
// An RFC 8441 WebSocket client on Node's built-in http2 module, independent of
// the Python code under test: extended CONNECT with ":protocol: websocket",
// RFC 6455 framing and permessage-deflate (RFC 7692, zlib raw deflate) written
// here. test/h2ws.py drives it.
//
// Input: one JSON object on stdin:
//   url          "https://host:port/path" (TLS, ALPN h2) or "http://..." (h2c,
//                prior knowledge)
//   ca           PEM file trusted for TLS; insecure: true skips verification
//   extensions   Sec-WebSocket-Extensions offer (string), optional
//   protocols    Sec-WebSocket-Protocol offer (list of strings), optional
//   headers      further request header fields ({name: value}), optional
//   streams      number of WebSocket streams run side by side on the one
//                HTTP/2 connection, each with the same script (default 1)
//   timeout_ms   whole-run deadline (default 10000)
//   script       list of actions, run in order on each stream:
//     {"text": "s"}            send a text message
//     {"binary": "b64"}        send a binary message
//       both take "fragments": n (split into n frames) and "compress": true
//       (RSV1, deflated; needs a negotiated permessage-deflate)
//     {"ping": "b64"}          send a ping
//     {"frame": {"opcode": n, "fin": true, "rsv": 0, "payload": "b64",
//                "mask": true}}  send one frame exactly as described
//     {"raw": "b64"}           write these bytes on the stream as they are
//     {"recv": n}              wait until n more messages have arrived
//     {"close": code, "reason": "s"}  send a close frame (code null: empty)
//     {"wait_close": true}     wait until the stream ends (or is reset)
//     {"sleep": ms}            pause
//     {"end": true}            end our half of the stream (END_STREAM)
//     {"reset": code}          reset the stream with this HTTP/2 error code
// Output: one JSON object on stdout: {"streams": [per-stream result], "error",
// "goaway"}; a stream's result has "status", "headers" (the response's, as
// Node gives them), "events" (in arrival order: {"type": "text", "data": s},
// {"type": "binary"|"pong"|"ping", "data": b64}, {"type": "close", "code",
// "reason"}, {"type": "end"}, {"type": "reset", "code"}, {"type": "error",
// "message"}), "extensions" and "protocol" (the negotiated ones, or null).
// The client answers pings with pongs and a close with a close, as RFC 6455
// §5.5.2 and §5.5.1 require.
"use strict";

const http2 = require("http2");
const fs = require("fs");
const crypto = require("crypto");
const zlib = require("zlib");

const DEFLATE_TAIL = Buffer.from([0x00, 0x00, 0xff, 0xff]);

function readStdin() {
  return fs.readFileSync(0, "utf8");
}

// RFC 6455 §5.2 framing, client side: every frame we send is masked unless
// the script says otherwise.
function encodeFrame({ opcode, fin = true, rsv = 0, payload = Buffer.alloc(0), mask = true }) {
  const len = payload.length;
  let head;
  if (len < 126) {
    head = Buffer.alloc(2);
    head[1] = len;
  } else if (len < 65536) {
    head = Buffer.alloc(4);
    head[1] = 126;
    head.writeUInt16BE(len, 2);
  } else {
    head = Buffer.alloc(10);
    head[1] = 127;
    head.writeBigUInt64BE(BigInt(len), 2);
  }
  head[0] = (fin ? 0x80 : 0) | ((rsv & 7) << 4) | (opcode & 0x0f);
  if (!mask) {
    return Buffer.concat([head, payload]);
  }
  head[1] |= 0x80;
  const key = crypto.randomBytes(4);
  const body = Buffer.alloc(len);
  for (let i = 0; i < len; i++) {
    body[i] = payload[i] ^ key[i & 3];
  }
  return Buffer.concat([head, key, body]);
}

// Parses as many whole frames as `buf` holds; returns [frames, rest].
function decodeFrames(buf) {
  const frames = [];
  for (;;) {
    if (buf.length < 2) break;
    const b0 = buf[0];
    const b1 = buf[1];
    let len = b1 & 0x7f;
    let off = 2;
    if (len === 126) {
      if (buf.length < 4) break;
      len = buf.readUInt16BE(2);
      off = 4;
    } else if (len === 127) {
      if (buf.length < 10) break;
      len = Number(buf.readBigUInt64BE(2));
      off = 10;
    }
    const masked = (b1 & 0x80) !== 0;
    let key = null;
    if (masked) {
      if (buf.length < off + 4) break;
      key = buf.subarray(off, off + 4);
      off += 4;
    }
    if (buf.length < off + len) break;
    let payload = Buffer.from(buf.subarray(off, off + len));
    if (key) {
      for (let i = 0; i < len; i++) payload[i] ^= key[i & 3];
    }
    frames.push({ fin: (b0 & 0x80) !== 0, rsv: (b0 >> 4) & 7, opcode: b0 & 0x0f, masked, payload });
    buf = buf.subarray(off + len);
  }
  return [frames, buf];
}

// The permessage-deflate parameters of the server's answer, or null.
function parseDeflate(header) {
  if (!header) return null;
  for (const offer of String(header).split(",")) {
    const parts = offer.split(";").map((p) => p.trim());
    if (parts[0] !== "permessage-deflate") continue;
    const params = {};
    for (const p of parts.slice(1)) {
      const [k, v] = p.split("=").map((s) => s.trim());
      params[k] = v === undefined ? true : v.replace(/^"|"$/g, "");
    }
    return params;
  }
  return null;
}

class Socket {
  constructor(stream, config, result) {
    this.stream = stream;
    this.config = config;
    this.result = result;
    this.buffer = Buffer.alloc(0);
    this.fragments = null; // [opcode, compressed, [payloads]] of a message in progress
    this.messages = 0;
    this.waiters = [];
    this.ended = false;
    this.closeSent = false;
    this.deflate = null;
    this.inflater = null;
    this.inflated = [];
    this.work = Promise.resolve();
  }

  negotiated(headers) {
    const params = parseDeflate(headers["sec-websocket-extensions"]);
    if (params) {
      const bits = params.client_max_window_bits;
      this.deflate = { windowBits: Math.max(9, typeof bits === "string" ? Number(bits) : 15) };
      this.inflater = zlib.createInflateRaw({ windowBits: 15 });
      this.inflater.on("data", (c) => this.inflated.push(c));
    }
  }

  event(e) {
    this.result.events.push(e);
    this.wake();
  }

  wake() {
    const waiting = this.waiters;
    this.waiters = [];
    for (const w of waiting) w();
  }

  until(test) {
    return new Promise((resolve) => {
      const check = () => (test() ? resolve() : this.waiters.push(check));
      check();
    });
  }

  send(frame) {
    if (!this.stream.destroyed && !this.stream.writableEnded) this.stream.write(encodeFrame(frame));
  }

  compress(data) {
    if (!this.deflate) throw new Error("compress: permessage-deflate was not negotiated");
    const out = zlib.deflateRawSync(data, { windowBits: this.deflate.windowBits, finishFlush: zlib.constants.Z_SYNC_FLUSH });
    return out.subarray(0, out.length - 4);
  }

  inflate(data) {
    return new Promise((resolve, reject) => {
      this.inflater.write(Buffer.concat([data, DEFLATE_TAIL]));
      this.inflater.flush(zlib.constants.Z_SYNC_FLUSH, (err) => {
        if (err) return reject(err);
        const out = Buffer.concat(this.inflated);
        this.inflated = [];
        resolve(out);
      });
    });
  }

  sendMessage(opcode, data, action) {
    const compressed = action.compress === true;
    const payload = compressed ? this.compress(data) : data;
    const n = Math.max(1, action.fragments || 1);
    const size = Math.ceil(payload.length / n);
    for (let i = 0; i < n; i++) {
      this.send({
        opcode: i === 0 ? opcode : 0,
        fin: i === n - 1,
        rsv: i === 0 && compressed ? 4 : 0,
        payload: payload.subarray(i * size, Math.min(payload.length, (i + 1) * size)),
      });
    }
  }

  receive(chunk) {
    this.buffer = Buffer.concat([this.buffer, chunk]);
    const [frames, rest] = decodeFrames(this.buffer);
    this.buffer = rest;
    for (const frame of frames) {
      this.work = this.work.then(() => this.onFrame(frame)).catch((err) => this.event({ type: "error", message: String(err) }));
    }
  }

  async onFrame(frame) {
    if (frame.masked) this.event({ type: "error", message: "masked frame from the server" });
    const op = frame.opcode;
    if (op === 0x9) {
      this.event({ type: "ping", data: frame.payload.toString("base64") });
      this.send({ opcode: 0xa, payload: frame.payload });
    } else if (op === 0xa) {
      this.event({ type: "pong", data: frame.payload.toString("base64") });
    } else if (op === 0x8) {
      const code = frame.payload.length >= 2 ? frame.payload.readUInt16BE(0) : null;
      const reason = frame.payload.subarray(2).toString("utf8");
      this.event({ type: "close", code, reason });
      if (!this.closeSent) {
        this.closeSent = true;
        this.send({ opcode: 0x8, payload: frame.payload.subarray(0, 2) });
      }
      if (!this.stream.destroyed && !this.stream.writableEnded) this.stream.end();
    } else {
      if (op !== 0) this.fragments = [op, (frame.rsv & 4) !== 0, []];
      if (!this.fragments) {
        this.event({ type: "error", message: "continuation frame without a message" });
        return;
      }
      this.fragments[2].push(frame.payload);
      if (!frame.fin) return;
      const [opcode, compressed, parts] = this.fragments;
      this.fragments = null;
      let data = Buffer.concat(parts);
      if (compressed) data = await this.inflate(data);
      if (opcode === 0x1) this.event({ type: "text", data: data.toString("utf8") });
      else this.event({ type: "binary", data: data.toString("base64") });
      this.messages += 1;
      this.wake();
    }
  }

  async run(script) {
    let expected = 0;
    for (const action of script) {
      if (this.ended && !("sleep" in action) && !("wait_close" in action)) break;
      if ("text" in action) {
        this.sendMessage(0x1, Buffer.from(action.text, "utf8"), action);
      } else if ("binary" in action) {
        this.sendMessage(0x2, Buffer.from(action.binary, "base64"), action);
      } else if ("ping" in action) {
        this.send({ opcode: 0x9, payload: Buffer.from(action.ping, "base64") });
      } else if ("frame" in action) {
        const f = action.frame;
        this.send({ ...f, payload: Buffer.from(f.payload || "", "base64") });
      } else if ("raw" in action) {
        this.stream.write(Buffer.from(action.raw, "base64"));
      } else if ("recv" in action) {
        expected += action.recv;
        await this.until(() => this.messages >= expected || this.ended);
      } else if ("close" in action) {
        const code = action.close;
        let payload = Buffer.alloc(0);
        if (code !== null && code !== undefined) {
          payload = Buffer.alloc(2);
          payload.writeUInt16BE(code, 0);
          payload = Buffer.concat([payload, Buffer.from(action.reason || "", "utf8")]);
        }
        this.closeSent = true;
        this.send({ opcode: 0x8, payload });
      } else if ("wait_close" in action) {
        await this.until(() => this.ended);
      } else if ("sleep" in action) {
        await new Promise((r) => setTimeout(r, action.sleep));
      } else if ("end" in action) {
        this.stream.end();
      } else if ("reset" in action) {
        this.stream.close(action.reset);
      } else {
        throw new Error("unknown action " + JSON.stringify(action));
      }
    }
  }
}

function openStream(session, url, config) {
  const result = { status: null, headers: null, events: [], extensions: null, protocol: null };
  const headers = {
    ":method": "CONNECT",
    ":protocol": "websocket",
    ":scheme": url.protocol === "https:" ? "https" : "http",
    ":path": url.pathname + url.search,
    ":authority": url.host,
    "sec-websocket-version": "13",
    ...(config.headers || {}),
  };
  if (config.extensions) headers["sec-websocket-extensions"] = config.extensions;
  if (config.protocols && config.protocols.length) headers["sec-websocket-protocol"] = config.protocols.join(", ");
  const stream = session.request(headers, { endStream: false });
  const socket = new Socket(stream, config, result);
  const done = new Promise((resolve) => {
    stream.on("response", async (h) => {
      result.status = h[":status"];
      result.headers = { ...h };
      result.extensions = h["sec-websocket-extensions"] || null;
      result.protocol = h["sec-websocket-protocol"] || null;
      if (result.status !== 200) {
        stream.close(http2.constants.NGHTTP2_CANCEL);
        return;
      }
      socket.negotiated(h);
      try {
        await socket.run(config.script || []);
        await socket.work;
      } catch (err) {
        socket.event({ type: "error", message: String(err) });
      }
      if (!stream.destroyed) stream.close(http2.constants.NGHTTP2_NO_ERROR);
    });
    stream.on("data", (chunk) => socket.receive(chunk));
    stream.on("end", () => {
      socket.work.then(() => {
        socket.event({ type: "end" });
        socket.ended = true;
        socket.wake();
      });
    });
    stream.on("error", (err) => socket.event({ type: "error", message: String(err.code || err) }));
    stream.on("close", () => {
      socket.work.then(() => {
        if (stream.rstCode) socket.event({ type: "reset", code: stream.rstCode });
        socket.ended = true;
        socket.wake();
        resolve();
      });
    });
  });
  return { result, done };
}

async function main() {
  const config = JSON.parse(readStdin());
  const url = new URL(config.url);
  const output = { streams: [], error: null, goaway: null };
  const timer = setTimeout(() => {
    output.error = output.error || "timeout";
    finish(output, 1);
  }, config.timeout_ms || 10000);
  const options = { settings: { enablePush: false } };
  if (url.protocol === "https:") {
    if (config.ca) options.ca = fs.readFileSync(config.ca);
    if (config.insecure) options.rejectUnauthorized = false;
    options.ALPNProtocols = ["h2"];
  }
  const authority = `${url.protocol}//${url.host}`;
  const session = http2.connect(authority, options);
  session.on("error", (err) => {
    output.error = String(err.code || err.message || err);
  });
  session.on("goaway", (code, last) => {
    output.goaway = { code, last_stream_id: last };
  });
  try {
    await new Promise((resolve, reject) => {
      session.once("remoteSettings", (settings) => {
        if (!settings.enableConnectProtocol) {
          reject(new Error("the server did not send SETTINGS_ENABLE_CONNECT_PROTOCOL = 1"));
        } else {
          resolve();
        }
      });
      session.once("error", reject);
      session.once("close", () => reject(new Error("connection closed before the server's SETTINGS")));
    });
    const runs = [];
    for (let i = 0; i < (config.streams || 1); i++) runs.push(openStream(session, url, config));
    output.streams = runs.map((r) => r.result);
    await Promise.all(runs.map((r) => r.done));
  } catch (err) {
    output.error = output.error || String(err.message || err);
  }
  clearTimeout(timer);
  session.close();
  finish(output, output.error ? 1 : 0);
}

function finish(output, code) {
  process.stdout.write(JSON.stringify(output) + "\n", () => process.exit(code));
}

main();
