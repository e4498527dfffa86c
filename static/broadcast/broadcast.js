// wsbridge broadcast client: connects with the subprotocol
// wsbridge.broadcast.v1, reconnects with backoff, and resumes after the
// last message it got (?since=&epoch=), so that no message is lost or
// shown twice across a dropped connection. See static/PROTOCOL.md.
//   const feed = wsbridgeBroadcast(url, {
//     message(data, m) {},   // each message once: data (text, or bytes under --binary)
//     reset(epoch) {},       // the history was lost: what follows starts over (--replay)
//     owner(program) {},     // the group's program changed (restart, failover)
//     status(state) {},      // 'open', 'closed' (retrying) or 'ended'
//   });
//   feed.send(text); feed.close();
function wsbridgeBroadcast(url, handlers = {}) {
  let ws = null, since = null, epoch = null, delay = 250, ended = false;
  const call = (name, ...args) => handlers[name] && handlers[name](...args);
  function connect() {
    let u = url;
    if (epoch !== null) u += (u.includes('?') ? '&' : '?') + 'since=' + since + '&epoch=' + encodeURIComponent(epoch);
    ws = new WebSocket(u, 'wsbridge.broadcast.v1');
    ws.onopen = () => { delay = 250; call('status', 'open'); };
    ws.onmessage = (e) => {
      const m = JSON.parse(e.data);
      if (m.event === 'reset') { epoch = m.epoch; since = 0; call('reset', m.epoch); return; }
      if (m.offset !== undefined) {
        if (m.epoch === epoch && m.offset <= since) return; // had it already
        epoch = m.epoch; since = m.offset;
      }
      if (m.event === 'owner') call('owner', m.program);
      else if (m.event === undefined) {
        const data = m.encoding === 'base64' ? Uint8Array.from(atob(m.data), (c) => c.charCodeAt(0)) : m.data;
        call('message', data, m);
      }
    };
    ws.onclose = (e) => {
      // 1000 and 4000-4999: the program ended the session, or closed us.
      if (ended || e.code === 1000 || (e.code >= 4000 && e.code < 5000)) { ended = true; call('status', 'ended', e.code); return; }
      call('status', 'closed', e.code);
      setTimeout(connect, delay * (0.5 + Math.random()));
      delay = Math.min(delay * 2, 10000);
    };
  }
  connect();
  return {
    send(data) { if (ws && ws.readyState === WebSocket.OPEN) { ws.send(data); return true; } return false; },
    close() { ended = true; if (ws) ws.close(1000); },
    get position() { return { since, epoch }; },
  };
}
