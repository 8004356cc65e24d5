import Replay

/// The console's one page: self-contained (no fetched scripts, styles or fonts, no build step). It reads
/// `/api/status` every second, the event stream live (without routine events), the last failover's explanation
/// when a decision arrives, and redraws the recent time line (the SVG of `servha timeline --html`) after events.
///
/// The page itself holds no data, so it is served without the bearer token; when the console asks for one, the
/// page takes it from the address's `#token=...` (never sent to the server in the URL) or asks for it, and sends
/// it with every request.
enum ConsolePage {
    static func html(node: String, cluster: String) -> String {
        """
        <!doctype html>
        <html lang="en"><head><meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>servha \(escapeHTML(cluster)): \(escapeHTML(node))</title>
        <style>
        body { font: 14px/1.45 system-ui, sans-serif; margin: 1.2em 1.5em; color: #222; background: #fafafa; }
        h1 { font-size: 1.3em; margin: 0 0 0.2em; } h2 { font-size: 1.05em; margin: 1.2em 0 0.4em; }
        .muted { color: #666; } .bad { color: #b00; font-weight: 600; } .good { color: #187a31; font-weight: 600; }
        .cards { display: flex; gap: 1em; flex-wrap: wrap; }
        .card { background: #fff; border: 1px solid #ddd; border-radius: 6px; padding: 0.7em 1em; min-width: 18em; }
        .role { font-size: 1.4em; font-weight: 700; }
        .role-active { color: #187a31; } .role-standby { color: #2b6cb0; } .role-fenced { color: #6b46c1; }
        .role-releasing, .role-acquiring { color: #c05621; }
        table { border-collapse: collapse; } td, th { padding: 0.15em 0.8em 0.15em 0; text-align: left; }
        pre, #events td { font: 12px/1.4 ui-monospace, monospace; }
        pre { background: #fff; border: 1px solid #ddd; padding: 0.6em; white-space: pre-wrap; }
        #events { max-height: 22em; overflow-y: auto; background: #fff; border: 1px solid #ddd; display: block; }
        #timeline svg { max-width: 100%; height: auto; background: #fff; border: 1px solid #ddd; }
        \(IncidentTimeline.styleSheet)
        </style></head><body>
        <h1>servha cluster <span id="cluster">\(escapeHTML(cluster))</span>, seen from <span id="node">\(escapeHTML(node))</span></h1>
        <div class="muted">read-only; control is <code>servha</code> on the admin socket.
          <span id="updated">connecting…</span> <span id="connection"></span></div>
        <div class="cards">
          <div class="card"><div class="muted">this node</div>
            <div id="role" class="role">…</div>
            <div>epoch <span id="epoch">…</span>, <span id="lease"></span></div><div id="modes"></div></div>
          <div class="card"><div class="muted">peer <span id="peer-name"></span></div>
            <div id="peer-role" class="role">…</div><div id="peer-detail"></div></div>
          <div class="card"><div class="muted">heartbeat channels</div><table id="channels"></table></div>
          <div class="card"><div class="muted">resources</div><table id="resources"></table></div>
        </div>
        <h2>Alarms</h2><div id="alarms">…</div>
        <h2>Last failover</h2><div id="last-failover">…</div><pre id="explain">…</pre>
        <h2>Recent time line</h2><div id="timeline">…</div>
        <h2>Events <span class="muted">(newest first; heartbeats, timers and slot writes left out)</span></h2>
        <table id="events"></table>
        <script>
        "use strict";
        const $ = (id) => document.getElementById(id);
        let token = sessionStorage.getItem("servha-token") || "";
        const fromHash = location.hash.match(/token=([^&]+)/);
        if (fromHash) { token = decodeURIComponent(fromHash[1]); sessionStorage.setItem("servha-token", token);
          history.replaceState(null, "", location.pathname); }
        function headers() { return token ? { "Authorization": "Bearer " + token } : {}; }
        async function get(path) {
          const response = await fetch(path, { headers: headers(), cache: "no-store" });
          if (response.status === 401) {
            const given = prompt("This console asks for its bearer token (http.token_file):");
            if (given) { token = given.trim(); sessionStorage.setItem("servha-token", token); }
            throw new Error("401: " + (await response.text()).trim());
          }
          if (!response.ok) throw new Error(response.status + ": " + (await response.text()).trim());
          return response;
        }
        function cell(row, text, cls) { const td = row.insertCell(); td.textContent = text; if (cls) td.className = cls; }
        function ago(ms) { return ms === null ? "never" : ms < 1000 ? ms + " ms ago" : (ms / 1000).toFixed(1) + " s ago"; }
        function render(s) {
          $("role").textContent = s.role; $("role").className = "role role-" + s.role;
          $("epoch").textContent = s.epoch;
          $("lease").textContent = s.lease_renewed_ms_ago === null ? "does not hold the lease"
            : "lease renewed " + ago(s.lease_renewed_ms_ago) + (s.disk_only_lease ? " (disk-only lease)" : "");
          $("modes").textContent = [s.maintenance ? "MAINTENANCE" : "", s.admin_standby ? "admin standby" : ""]
            .filter(Boolean).join(", ");
          $("peer-name").textContent = s.peer.name;
          $("peer-role").textContent = s.peer.role; $("peer-role").className = "role role-" + s.peer.role;
          $("peer-detail").textContent = s.peer.heard ? "epoch " + s.peer.epoch + (s.peer.healthy ? ", healthy" : ", not healthy")
            : "not heard; last heard " + ago(s.peer.last_seen.ms_ago) + ", as " + s.peer.last_seen.role;
          const channels = $("channels"); channels.replaceChildren();
          for (const c of s.channels) { const row = channels.insertRow(); cell(row, c.name);
            cell(row, c.up ? "up" : "DOWN", c.up ? "good" : "bad"); cell(row, "heard " + ago(c.last_heard_ms_ago)); }
          const resources = $("resources"); resources.replaceChildren();
          for (const r of s.resources) { const row = resources.insertRow(); cell(row, r.name);
            cell(row, r.status, r.status === "running" ? "good" : r.status === "failed" ? "bad" : ""); }
          if (!s.resources.length) cell(resources.insertRow(), "none");
          const alarms = $("alarms"); alarms.replaceChildren();
          if (!s.alarms.length) alarms.textContent = "none";
          for (const a of s.alarms) { const div = document.createElement("div"); div.className = a.severity === "critical" ? "bad" : "";
            div.textContent = a.kind + " (" + a.severity + "): " + a.message; alarms.appendChild(div); }
          $("last-failover").textContent = s.last_failover
            ? s.last_failover.kind + ", epoch " + s.last_failover.epoch + ", " + ago(s.last_failover.ms_ago) + ": " + s.last_failover.reason
            : "none since this daemon started";
          $("updated").textContent = "updated " + new Date().toLocaleTimeString();
        }
        async function refreshStatus() {
          try { render(await (await get("/api/status")).json()); $("connection").textContent = ""; }
          catch (e) { $("connection").textContent = "(status: " + e.message + ")"; $("connection").className = "bad"; }
        }
        async function refreshExplain() {
          try { const e = await (await get("/api/explain")).json();
            $("explain").textContent = e.decision === null ? "no failover decision since this daemon started" : e.lines.join("\\n");
            $("explain").dataset.decision = e.decision === null ? "" : e.decision; } catch (e) {}
        }
        // The explanation's "what followed" grows for a minute after a decision: fetched again after events.
        let explaining = null;
        function explainSoon() {
          if (explaining) return;
          explaining = setTimeout(() => { explaining = null; refreshExplain(); }, 1000);
        }
        let drawing = null;
        function redrawSoon() {
          if (drawing) return;
          drawing = setTimeout(async () => { drawing = null;
            try { $("timeline").innerHTML = await (await get("/api/timeline.svg")).text(); } catch (e) {} }, 1000);
        }
        function addEvent(e) {
          const row = $("events").insertRow(0); row.dataset.seq = e.seq; row.dataset.type = e.type;
          cell(row, e.seq); cell(row, e.time.slice(11, 23)); cell(row, e.event, e.type === "decision" ? "good" : "");
          while ($("events").rows.length > 200) $("events").deleteRow(-1);
          if (e.type === "decision") refreshStatus();
          explainSoon(); redrawSoon();
        }
        let lastSeq = 0;
        async function follow() {
          for (;;) {
            try {
              const response = await get("/api/events/stream?routine=false" + (lastSeq ? "&since=" + lastSeq : ""));
              const reader = response.body.getReader(); const decoder = new TextDecoder(); let buffer = "";
              for (;;) {
                const { value, done } = await reader.read(); if (done) break;
                buffer += decoder.decode(value, { stream: true });
                let end;
                while ((end = buffer.indexOf("\\n\\n")) >= 0) {
                  const message = buffer.slice(0, end); buffer = buffer.slice(end + 2);
                  const data = message.split("\\n").filter((l) => l.startsWith("data: ")).map((l) => l.slice(6)).join("\\n");
                  if (data) { const e = JSON.parse(data); lastSeq = Math.max(lastSeq, e.seq); addEvent(e); }
                }
              }
            } catch (e) { $("connection").textContent = "(event stream: " + e.message + "; retrying)"; }
            await new Promise((r) => setTimeout(r, 1000));
          }
        }
        (async () => {
          try { for (const line of (await (await get("/api/events?routine=false&limit=10000")).text()).split("\\n")) {
            if (line) { const e = JSON.parse(line); lastSeq = Math.max(lastSeq, e.seq); addEvent(e); } } } catch (e) {}
          refreshStatus(); refreshExplain(); redrawSoon(); setInterval(refreshStatus, 1000); follow();
        })();
        </script>
        </body></html>

        """
    }
}
