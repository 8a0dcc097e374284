// genrouter dashboard: polls GET /admin/stats every second and draws it.
// Plain JavaScript, no dependencies, nothing fetched from elsewhere.
'use strict';
(function () {
  const KEY_STORE = 'genrouter.adminKey';
  const POLL_MS = 1000;
  const STATS_URL = new URL('../admin/stats?recent=100', location.href).toString();
  const $ = (id) => document.getElementById(id);

  let shareWindow = 'recent';
  let last = null;
  let asked = false; // prompted for the key after the last 401

  // --- the admin key: #key=… once, then sessionStorage ---------------------
  function takeKeyFromFragment() {
    const m = location.hash.match(/(?:^#|&)key=([^&]*)/);
    if (!m) return;
    try { sessionStorage.setItem(KEY_STORE, decodeURIComponent(m[1])); } catch (e) { /* storage off */ }
    // Do not leave the key in the address bar or in history.
    history.replaceState(null, '', location.pathname + location.search);
  }
  function key() {
    try { return sessionStorage.getItem(KEY_STORE) || ''; } catch (e) { return ''; }
  }
  function askKey() {
    const k = window.prompt('genrouter admin key (GENROUTER_MASTER_KEY):', '');
    if (k === null) return false;
    try { sessionStorage.setItem(KEY_STORE, k.trim()); } catch (e) { /* storage off */ }
    return true;
  }

  // --- formatting -----------------------------------------------------------
  function esc(s) {
    return String(s == null ? '' : s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));
  }
  function num(n) {
    n = Number(n) || 0;
    const a = Math.abs(n);
    if (a >= 1e9) return (n / 1e9).toFixed(a >= 1e10 ? 0 : 1) + 'G';
    if (a >= 1e6) return (n / 1e6).toFixed(a >= 1e7 ? 0 : 1) + 'M';
    if (a >= 1e4) return (n / 1e3).toFixed(a >= 1e5 ? 0 : 1) + 'k';
    if (Number.isInteger(n)) return String(n);
    return n.toFixed(a >= 10 ? 1 : 2);
  }
  function msText(v) {
    if (!v) return '–';
    if (v >= 10000) return (v / 1000).toFixed(1) + ' s';
    if (v >= 1000) return (v / 1000).toFixed(2) + ' s';
    if (v >= 10) return Math.round(v) + ' ms';
    return v.toFixed(1) + ' ms';
  }
  function usd(v) {
    v = Number(v) || 0;
    if (v === 0) return '$0';
    if (v >= 100) return '$' + v.toFixed(0);
    if (v >= 1) return '$' + v.toFixed(2);
    if (v >= 0.01) return '$' + v.toFixed(3);
    return '$' + v.toPrecision(2);
  }
  function clock(t) {
    const d = new Date(t);
    const p = (x) => String(x).padStart(2, '0');
    return p(d.getHours()) + ':' + p(d.getMinutes()) + ':' + p(d.getSeconds());
  }
  function duration(s) {
    s = Math.floor(s);
    const d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600), m = Math.floor(s % 3600 / 60);
    if (d) return d + 'd ' + h + 'h';
    if (h) return h + 'h ' + m + 'm';
    if (m) return m + 'm ' + (s % 60) + 's';
    return s + 's';
  }
  function whose(cls) {
    if (!cls) return 'other';
    const p = cls.split('_')[0];
    return p === 'client' || p === 'gateway' || p === 'vendor' ? p : 'other';
  }
  function combo(c) { return c.vendor + ' / ' + c.credential + ' / ' + c.model; }

  // --- a small SVG line chart ---------------------------------------------
  // series: [{name, color, values: [number|null]}]; x: start (unix s), step (s)
  function lineChart(el, series, start, step, yfmt) {
    const W = Math.max(el.clientWidth, 200), H = Math.max(el.clientHeight, 120);
    const L = 46, R = 8, T = 22, B = 20;
    const n = series.length ? series[0].values.length : 0;
    let max = 0;
    for (const s of series) for (const v of s.values) if (v != null && v > max) max = v;
    if (!n) { el.innerHTML = '<div class="empty">no data</div>'; return; }
    const nice = niceMax(max || 1);
    const x = (i) => L + (W - L - R) * (n === 1 ? 0 : i / (n - 1));
    const y = (v) => T + (H - T - B) * (1 - v / nice);
    let g = '<g class="grid">';
    let ax = '<g class="axis">';
    for (let k = 0; k <= 4; k++) {
      const v = nice * k / 4, yy = y(v).toFixed(1);
      g += '<line x1="' + L + '" x2="' + (W - R) + '" y1="' + yy + '" y2="' + yy + '"/>';
      ax += '<text x="' + (L - 6) + '" y="' + (Number(yy) + 4) + '" text-anchor="end">' + esc(yfmt(v)) + '</text>';
    }
    for (let k = 0; k <= 5; k++) {
      const i = Math.round((n - 1) * k / 5);
      ax += '<text x="' + x(i).toFixed(1) + '" y="' + (H - 4) + '" text-anchor="' + (k === 0 ? 'start' : k === 5 ? 'end' : 'middle') + '">' +
        clock((start + i * step) * 1000).slice(0, 5) + '</text>';
    }
    g += '</g>';
    ax += '</g>';
    let paths = '<g class="series">';
    let legend = '<g class="lg">';
    let lx = L;
    series.forEach((s) => {
      let d = '', pen = false, area = '';
      s.values.forEach((v, i) => {
        if (v == null) { pen = false; return; }
        d += (pen ? 'L' : 'M') + x(i).toFixed(1) + ' ' + y(v).toFixed(1);
        pen = true;
      });
      if (s.fill && d) area = '<path class="area" fill="' + s.color + '" d="' + d + 'L' + x(n - 1).toFixed(1) + ' ' + y(0) + 'L' + x(0) + ' ' + y(0) + 'Z"/>';
      paths += area + '<path data-series="' + esc(s.name) + '" stroke="' + s.color + '"' + (s.dash ? ' stroke-dasharray="4 3"' : '') + ' d="' + d + '"/>';
      const lastV = lastValue(s.values);
      legend += '<rect x="' + lx + '" y="4" width="10" height="3" fill="' + s.color + '"/><text x="' + (lx + 14) + '" y="10">' +
        esc(s.name) + (lastV == null ? '' : ' ' + esc(yfmt(lastV))) + '</text>';
      lx += 24 + 7 * (s.name.length + (lastV == null ? 0 : yfmt(lastV).length + 1));
    });
    paths += '</g>';
    legend += '</g>';
    el.innerHTML = '<svg viewBox="0 0 ' + W + ' ' + H + '" preserveAspectRatio="none">' + g + ax + paths + legend + '</svg>';
  }
  // sizes applies data-w / data-l (percent) as width / left: the page's
  // Content-Security-Policy allows no inline style attributes.
  function sizes(root) {
    for (const el of root.querySelectorAll('[data-w],[data-l]')) {
      if (el.dataset.w) el.style.width = el.dataset.w + '%';
      if (el.dataset.l) el.style.left = el.dataset.l + '%';
    }
  }
  // color reads a CSS custom property, for SVG presentation attributes.
  const colors = {};
  function color(name) {
    if (!colors[name]) colors[name] = getComputedStyle(document.documentElement).getPropertyValue('--' + name).trim() || '#888';
    return colors[name];
  }
  function lastValue(vs) { for (let i = vs.length - 1; i >= 0; i--) if (vs[i] != null) return vs[i]; return null; }
  function niceMax(v) {
    const p = Math.pow(10, Math.floor(Math.log10(v)));
    for (const m of [1, 2, 2.5, 5, 10]) if (v <= m * p) return m * p;
    return 10 * p;
  }

  // --- sections -------------------------------------------------------------
  function renderHeader(s) {
    $('meta').textContent = 'up ' + duration(s.uptime_seconds) + ' · updated ' + clock(s.now);
  }
  function renderKpis(s) {
    const t = s.totals;
    $('kpi-rps').textContent = num(t.requests_per_second);
    $('kpi-rps-sub').textContent = num(t.last_minute_requests) + ' in the last minute';
    $('kpi-requests').textContent = num(t.requests);
    const rate = t.requests ? (100 * t.errors / t.requests) : 0;
    $('kpi-errors').textContent = num(t.errors);
    $('kpi-errors-sub').textContent = rate.toFixed(rate && rate < 1 ? 2 : 1) + '% · ' + num(t.last_minute_errors) + ' in the last minute';
    $('kpi-inflight').textContent = num(s.in_flight);
    const open = s.credentials.filter((c) => c.state !== 'closed').length;
    $('kpi-inflight-sub').textContent = s.credentials.length ? open + ' of ' + s.credentials.length + ' credentials not closed' : '';
    $('kpi-tokens').textContent = num(t.prompt_tokens) + ' / ' + num(t.completion_tokens);
    $('kpi-tokens-sub').textContent = num(t.cached_tokens) + ' input tokens cached';
    $('kpi-cost').textContent = usd(t.cost_usd);
    $('kpi-cost-sub').textContent = t.requests ? usd(t.cost_usd / t.requests) + ' per request' : '';
    $('kpi-requests-sub').textContent = 'since ' + clock(s.started);
  }
  function renderRate(s) {
    const r = s.rate;
    // 5-second points keep ten minutes readable; the current second is
    // still filling, so the points end at the one before it.
    const k = 5, end = r.requests.length - 1, first = end % k, req = [], err = [];
    for (let i = first; i + k <= end; i += k) {
      let a = 0, b = 0;
      for (let j = i; j < i + k; j++) { a += r.requests[j]; b += r.errors[j]; }
      req.push(a / k); err.push(b / k);
    }
    lineChart($('chart-rps'), [
      { name: 'requests/s', color: color('blue'), values: req, fill: true },
      { name: 'errors/s', color: color('red'), values: err },
    ], r.start + first + k - 1, r.step * k, (v) => num(v));
  }
  function renderLatency(s) {
    const pts = s.latency;
    const pick = (f) => pts.map((p) => (p.count ? p[f] : null));
    lineChart($('chart-latency'), [
      { name: 'p50', color: color('green'), values: pick('p50_ms') },
      { name: 'p90', color: color('amber'), values: pick('p90_ms') },
      { name: 'p99', color: color('red'), values: pick('p99_ms') },
      { name: 'ttfb p50', color: color('violet'), values: pick('ttfb_p50_ms'), dash: true },
    ], pts.length ? pts[0].t : 0, 10, (v) => (v ? msText(v) : '0'));
  }
  function renderBars(s) {
    const el = $('bars');
    const recent = shareWindow === 'recent';
    const rows = s.combinations.map((c) => ({
      c, n: recent ? c.recent_requests : c.requests, share: recent ? c.recent_share : c.share,
    }));
    const total = rows.reduce((a, r) => a + r.n, 0);
    if (!rows.length || !total) {
      el.innerHTML = '<div class="empty">no routed requests ' + (recent ? 'in the last 10 minutes' : 'yet') + '</div>';
      $('share-note').textContent = '';
      return;
    }
    const max = Math.max(...rows.map((r) => r.n));
    const even = 1 / rows.length;
    $('share-note').textContent = rows.length + ' combinations · even share ' + (100 * even).toFixed(1) + '%';
    const evenPos = 100 * (even * total) / max;
    el.innerHTML = rows.map((r) => {
      const w = 100 * r.n / max;
      const errShare = r.c.requests ? r.c.errors / r.c.requests : 0;
      return '<div class="bar" data-combination="' + esc(combo(r.c)) + '" title="' + esc(combo(r.c)) + ': ' + r.n + ' requests, ' +
        r.c.errors + ' errors since start">' +
        '<div class="bar-label"><b>' + esc(r.c.vendor) + '</b> / ' + esc(r.c.credential) + ' / ' + esc(r.c.model) + '</div>' +
        '<div class="bar-track"><div class="bar-fill" data-w="' + w.toFixed(2) + '"></div>' +
        (errShare > 0 ? '<div class="bar-err" data-l="' + (w * (1 - errShare)).toFixed(2) + '" data-w="' + (w * errShare).toFixed(2) + '"></div>' : '') +
        (evenPos <= 100 ? '<div class="bar-even" data-l="' + evenPos.toFixed(2) + '"></div>' : '') + '</div>' +
        '<div class="bar-value">' + num(r.n) + ' · ' + (100 * r.share).toFixed(1) + '%</div></div>';
    }).join('');
    sizes(el);
  }
  function renderCreds(s) {
    const body = $('creds').tBodies[0];
    if (!s.credentials.length) { body.innerHTML = '<tr><td colspan="7" class="muted">no credentials reported</td></tr>'; return; }
    body.innerHTML = s.credentials.map((c) =>
      '<tr data-credential="' + esc(c.vendor + '/' + c.name) + '"><td>' + esc(c.vendor) + '</td><td>' + esc(c.name) + '</td>' +
      '<td><span class="pill st-' + esc(c.state) + '">' + esc(c.state.replace('_', '-')) + '</span></td>' +
      '<td>' + esc(c.reason || '') + '</td><td class="num">' + (c.cooldown_seconds ? c.cooldown_seconds.toFixed(1) + ' s' : '') + '</td>' +
      '<td class="num">' + num(c.in_flight) + '</td><td class="cls cls-' + whose(c.last_error) + '">' + esc(c.last_error || '') + '</td></tr>').join('');
  }
  function renderErrors(s) {
    const body = $('errors').tBodies[0];
    if (!s.errors.length) { body.innerHTML = '<tr><td colspan="5" class="muted">no errors</td></tr>'; return; }
    const max = Math.max(...s.errors.map((e) => e.total));
    body.innerHTML = s.errors.map((e) => {
      const w = whose(e.class);
      return '<tr data-error="' + esc(e.vendor + '/' + e.class) + '"><td>' + (e.vendor ? esc(e.vendor) : '<span class="muted">(none)</span>') + '</td>' +
        '<td class="cls cls-' + w + '">' + esc(e.class) + '</td><td class="num">' + num(e.recent) + '</td><td class="num">' + num(e.total) + '</td>' +
        '<td><div class="minibar c-' + (w === 'other' ? 'vendor' : w) + '" data-w="' + (100 * e.total / max).toFixed(1) + '"></div></td></tr>';
    }).join('');
    sizes(body);
  }
  function renderCosts(s) {
    const body = $('costs').tBodies[0];
    if (!s.combinations.length) { body.innerHTML = '<tr><td colspan="7" class="muted">nothing routed yet</td></tr>'; return; }
    const rows = s.combinations.slice().sort((a, b) => b.cost_usd - a.cost_usd || b.requests - a.requests);
    body.innerHTML = rows.map((c) =>
      '<tr><td title="' + esc(combo(c)) + '">' + esc(combo(c)) + '</td><td class="num">' + num(c.requests) + '</td>' +
      '<td class="num">' + num(c.prompt_tokens) + '</td><td class="num">' + num(c.completion_tokens) + '</td>' +
      '<td class="num">' + num(c.cached_tokens) + '</td><td class="num">' + usd(c.cost_usd) + '</td>' +
      '<td class="num">' + msText(c.mean_latency_ms) + '</td></tr>').join('');
  }
  function renderRecent(s) {
    const body = $('recent').tBodies[0];
    $('recent-note').textContent = s.recent.length ? 'newest first · ' + s.recent.length + ' shown' : '';
    if (!s.recent.length) { body.innerHTML = '<tr><td colspan="13" class="muted">no requests yet</td></tr>'; return; }
    body.innerHTML = s.recent.map((r) => {
      const bad = r.status >= 400 || r.error_class;
      const served = r.model_served && r.model_served !== r.model_asked ? ' → ' + esc(r.model_served) : '';
      return '<tr class="' + (bad ? 'err' : '') + '" data-request-id="' + esc(r.id) + '"><td>' + clock(r.time) + '</td>' +
        '<td title="' + esc(r.id) + '">' + esc(r.id) + '</td><td>' + esc(r.vendor) + '</td><td>' + esc(r.credential) + '</td>' +
        '<td title="' + esc(r.model_asked) + '">' + esc(r.model_asked) + served + '</td>' +
        '<td class="num">' + (r.status || '') + '</td><td class="cls cls-' + whose(r.error_class) + '">' + esc(r.error_class) + '</td>' +
        '<td class="num">' + msText(r.latency_ms) + '</td><td class="num">' + msText(r.ttfb_ms) + '</td>' +
        '<td class="num">' + num(r.prompt_tokens) + ' / ' + num(r.completion_tokens) + '</td>' +
        '<td class="num">' + (r.cost_usd ? usd(r.cost_usd) : '') + '</td><td class="num">' + (r.attempts || '') + '</td>' +
        '<td>' + (r.stream ? '<span class="tag">stream</span>' : '') + (r.fallback ? '<span class="tag">fallback</span>' : '') + '</td></tr>';
    }).join('');
  }
  function render(s) {
    last = s;
    renderHeader(s);
    renderKpis(s);
    renderRate(s);
    renderLatency(s);
    renderBars(s);
    renderCreds(s);
    renderErrors(s);
    renderCosts(s);
    renderRecent(s);
    document.body.dataset.requests = String(s.totals.requests); // for tests
  }

  // --- polling --------------------------------------------------------------
  function setStatus(cls, text) {
    const el = $('status');
    el.className = 'pill ' + cls;
    el.textContent = text;
  }
  function banner(text) {
    const b = $('banner');
    b.hidden = !text;
    b.textContent = text || '';
  }
  async function poll() {
    const headers = { Accept: 'application/json' };
    const k = key();
    if (k) headers.Authorization = 'Bearer ' + k;
    try {
      const resp = await fetch(STATS_URL, { headers, cache: 'no-store', credentials: 'omit' });
      if (resp.status === 401 || resp.status === 403) {
        setStatus('pill-err', 'unauthorized');
        banner('The admin key is missing or wrong: use "admin key" above, or open this page as /ui/#key=…');
        if (!asked) { asked = true; if (askKey()) return schedule(0); }
        return schedule(5000);
      }
      if (!resp.ok) throw new Error('HTTP ' + resp.status);
      const s = await resp.json();
      asked = false;
      banner('');
      setStatus('pill-live', 'live');
      render(s);
    } catch (e) {
      setStatus('pill-err', 'offline');
      banner('Cannot read ' + STATS_URL + ': ' + e.message);
    }
    schedule(POLL_MS);
  }
  let timer = 0;
  function schedule(ms) { clearTimeout(timer); timer = setTimeout(poll, ms); }

  takeKeyFromFragment();
  $('key-button').addEventListener('click', () => { if (askKey()) { asked = false; schedule(0); } });
  for (const b of document.querySelectorAll('.toggle button')) {
    b.addEventListener('click', () => {
      shareWindow = b.dataset.window;
      for (const o of document.querySelectorAll('.toggle button')) o.classList.toggle('on', o === b);
      if (last) renderBars(last);
    });
  }
  window.addEventListener('resize', () => { if (last) { renderRate(last); renderLatency(last); } });
  poll();
})();
