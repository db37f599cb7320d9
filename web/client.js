/* Snakepit browser client.
 *
 * Speaks PROTOCOL.md v1 over one WebSocket (plus the `round` extension):
 * sends ["new_player", NAME], ["join"] and bare key codes 37..40; applies the
 * server's frames (arrays of commands) to a local copy of the field and draws
 * it on a canvas. Everything that comes from the server or from other players
 * is shown with textContent, never parsed as HTML.
 *
 * window.snakepit.state is a read-only snapshot for tests and debugging.
 */
(function () {
  'use strict';

  var NAME_MAX = 15;
  var ROOM_RE = /^[A-Za-z0-9_-]{1,32}$/;
  var BACKOFF_FIRST_MS = 500;
  var BACKOFF_MAX_MS = 10000;
  var ROOMS_REFRESH_MS = 5000;
  var KEY_LEFT = 37, KEY_UP = 38, KEY_RIGHT = 39, KEY_DOWN = 40;
  // Colour 0 is for stones, dead snakes and text; 1..6 belong to snakes.
  var COLORS = ['#aeb6c2', '#ff6b6b', '#4ade80', '#60a5fa', '#facc15', '#e879f9', '#22d3ee'];
  var BLOCK_CHARS = '%@*x+#';

  var $ = function (id) { return document.getElementById(id); };
  var ui = {
    status: $('status'),
    start: $('start-screen'), play: $('play-screen'),
    form: $('connect-form'), name: $('name'), room: $('room'), roomError: $('room-error'),
    rooms: $('rooms'), roomsEmpty: $('rooms-empty'), best: $('best-scores'),
    canvas: $('field'), wrap: $('field-wrap'), round: $('round'),
    join: $('join'), leave: $('leave'), roomName: $('room-name'),
    players: $('players'), playersEmpty: $('players-empty'),
    top: $('top-scores'), topEmpty: $('top-empty'), pad: $('pad')
  };

  var state = {
    screen: 'start',          // 'start' | 'play'
    status: 'idle',           // 'idle' | 'connecting' | 'connected' | 'reconnecting'
    statusText: 'Not connected',
    lastError: null,
    room: 'default',
    name: '',
    myName: null,             // the name as the server stored it
    myId: null,
    myColor: null,
    alive: false,
    joinPending: false,
    width: 0, height: 0,
    grid: [],                 // grid[y][x] = [char, color]
    players: new Map(),       // id -> {id, name, color, score}
    topScores: [],            // [[name, score, color], ...]
    round: null,              // seconds left in a timed round, or null
    ticks: 0,                 // render frames seen on this connection
    connections: 0,           // successful handshakes since the page loaded
    attempt: 0,               // reconnect attempts since the last handshake
    retryInMs: null
  };

  var ws = null;
  var retryTimer = null;
  var roundTimer = null;
  var roomsTimer = null;

  /* ---------- helpers ---------- */

  function clampName(s) {
    // Like the server: no control characters, no bidirectional overrides.
    s = String(s || '').replace(/[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g, '').trim();
    return Array.from(s).slice(0, NAME_MAX).join('');
  }

  function store(key, value) {
    try { localStorage.setItem(key, value); } catch (e) { /* storage may be off */ }
  }
  function load(key) {
    try { return localStorage.getItem(key); } catch (e) { return null; }
  }

  function setStatus(kind, text) {
    state.status = kind;
    state.statusText = text;
    ui.status.textContent = text;
    ui.status.className = 'status status-' + kind;
  }

  function showError(text) {
    state.lastError = text;
    state.statusText = text;
    ui.status.textContent = text;
    ui.status.className = 'status status-error';
  }

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = String(text);
    return e;
  }

  function swatch(color) {
    var s = el('span', 'swatch');
    s.style.background = COLORS[color] || COLORS[0];
    s.setAttribute('aria-hidden', 'true');
    return s;
  }

  /* ---------- start screen ---------- */

  function sanitizeRoomInput() {
    var v = ui.room.value;
    var clean = v.replace(/[^A-Za-z0-9_-]/g, '').slice(0, 32);
    if (clean !== v) ui.room.value = clean;
    ui.roomError.hidden = true;
    ui.room.removeAttribute('aria-invalid');
  }

  function renderRooms(list, failed) {
    ui.roomsEmpty.textContent = failed ? 'Could not load the rooms.' : 'No open rooms yet: start one.';
    ui.rooms.replaceChildren();
    list.forEach(function (r) {
      if (!r || typeof r.name !== 'string' || !ROOM_RE.test(r.name)) return;
      var li = el('li');
      var b = el('button', 'room-pick');
      b.type = 'button';
      b.appendChild(el('span', 'room-title', r.name));
      var n = Number(r.connections) || 0, s = Number(r.snakes) || 0;
      b.appendChild(el('span', 'room-meta',
        n + (n === 1 ? ' player' : ' players') + ', ' + s + (s === 1 ? ' snake' : ' snakes')));
      b.addEventListener('click', function () {
        ui.room.value = r.name;
        sanitizeRoomInput();
        ui.name.value ? ui.form.querySelector('button[type=submit]').focus() : ui.name.focus();
      });
      li.appendChild(b);
      ui.rooms.appendChild(li);
    });
    ui.roomsEmpty.hidden = ui.rooms.children.length > 0;
  }

  function renderScoreList(ol, rows) {
    ol.replaceChildren();
    rows.forEach(function (row) {
      var li = el('li');
      li.appendChild(swatch(row.color));
      li.appendChild(el('span', 'who', row.name));
      li.appendChild(el('span', 'score', row.score));
      ol.appendChild(li);
    });
  }

  function fetchLobby() {
    fetch('/api/rooms', { cache: 'no-store' })
      .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
      .then(function (j) { renderRooms(Array.isArray(j && j.rooms) ? j.rooms : []); })
      .catch(function () { renderRooms([], true); });
    fetch('/api/scores', { cache: 'no-store' })
      .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
      .then(function (j) {
        var rows = Array.isArray(j && j.scores) ? j.scores : [];
        renderScoreList(ui.best, rows.slice(0, 10).map(function (s) {
          return { name: String(s.name), score: Number(s.score) || 0, color: Number(s.color) || 0 };
        }));
      })
      .catch(function () { ui.best.replaceChildren(); });
  }

  function showStart() {
    state.screen = 'start';
    document.body.classList.remove('playing');
    ui.play.hidden = true;
    ui.start.hidden = false;
    fetchLobby();
    clearInterval(roomsTimer);
    roomsTimer = setInterval(fetchLobby, ROOMS_REFRESH_MS);
  }

  function showPlay() {
    state.screen = 'play';
    clearInterval(roomsTimer);
    document.body.classList.add('playing');
    ui.start.hidden = true;
    ui.play.hidden = false;
    ui.roomName.textContent = state.room;
    resizeCanvas();
    ui.canvas.focus({ preventScroll: true });
  }

  ui.room.addEventListener('input', sanitizeRoomInput);
  ui.name.addEventListener('input', function () {
    var c = Array.from(ui.name.value);
    if (c.length > NAME_MAX) ui.name.value = c.slice(0, NAME_MAX).join('');
  });

  ui.form.addEventListener('submit', function (ev) {
    ev.preventDefault();
    var room = ui.room.value.trim();
    if (!ROOM_RE.test(room)) {
      ui.roomError.hidden = false;
      ui.room.setAttribute('aria-invalid', 'true');
      ui.room.focus();
      return;
    }
    var name = clampName(ui.name.value);
    ui.name.value = name;
    store('snakepit.name', name);
    store('snakepit.room', room);
    state.name = name;
    state.room = room;
    state.attempt = 0;
    showPlay();
    connect();
  });

  /* ---------- connection ---------- */

  function wsUrl(room) {
    var proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
    return proto + '//' + location.host + '/connect?room=' + encodeURIComponent(room);
  }

  function resetSession() {
    state.myId = null;
    state.myName = null;
    state.myColor = null;
    state.alive = false;
    state.joinPending = false;
    state.players = new Map();
    state.ticks = 0;
    setRound(null);
    renderPlayers();
    updateJoin();
  }

  function connect() {
    clearTimeout(retryTimer);
    retryTimer = null;
    state.retryInMs = null;
    resetSession();
    setStatus(state.attempt ? 'reconnecting' : 'connecting',
      (state.attempt ? 'Reconnecting' : 'Connecting') + ' to room ' + state.room + '\u2026');
    var sock;
    try {
      sock = new WebSocket(wsUrl(state.room));
    } catch (e) {
      scheduleReconnect();
      return;
    }
    ws = sock;
    sock.onopen = function () {
      if (ws !== sock) return;
      send(['new_player', state.name]);
    };
    sock.onmessage = function (ev) {
      if (ws !== sock) return;
      var frame;
      try { frame = JSON.parse(ev.data); } catch (e) { return; }
      handleFrame(frame);
    };
    sock.onclose = function () {
      if (ws !== sock) return;
      ws = null;
      resetSession();
      if (state.screen === 'play') scheduleReconnect();
    };
    sock.onerror = function () { /* onclose follows */ };
  }

  function scheduleReconnect() {
    var delay = Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * Math.pow(2, state.attempt));
    state.attempt++;
    state.retryInMs = delay;
    setStatus('reconnecting', 'Connection lost. Reconnecting in ' +
      Math.max(1, Math.round(delay / 1000)) + ' s (attempt ' + state.attempt + ')\u2026');
    clearTimeout(retryTimer);
    retryTimer = setTimeout(connect, delay);
  }

  function disconnect() {
    clearTimeout(retryTimer);
    retryTimer = null;
    state.retryInMs = null;
    var sock = ws;
    ws = null;
    if (sock) { try { sock.close(1000, 'leave'); } catch (e) { /* already closed */ } }
    resetSession();
    setStatus('idle', 'Not connected');
  }

  function send(msg) {
    if (ws && ws.readyState === WebSocket.OPEN) {
      ws.send(JSON.stringify(msg));
      return true;
    }
    return false;
  }

  /* ---------- protocol ---------- */

  function handleFrame(frame) {
    if (!Array.isArray(frame)) return;
    // A frame is an array of commands; accept a lone command too.
    var cmds = typeof frame[0] === 'string' ? [frame] : frame;
    var tick = true, field = false, people = false;
    for (var i = 0; i < cmds.length; i++) {
      var c = cmds[i];
      if (!Array.isArray(c) || typeof c[0] !== 'string') continue;
      if (c[0] !== 'render') tick = false;
      var what = apply(c);
      if (what === 1) field = true;
      else if (what === 2) people = true;
    }
    if (tick) state.ticks++;  // every tick sends one render frame, even `[]`
    if (field) draw();
    if (people) { renderPlayers(); updateJoin(); }
  }

  // Applies one command; returns 1 when the field changed, 2 when the
  // players, scores or Join state changed.
  function apply(c) {
    switch (c[0]) {
      case 'render': {
        var x = c[1] | 0, y = c[2] | 0;
        if (y >= 0 && y < state.height && x >= 0 && x < state.width)
          state.grid[y][x] = [String(c[3]).charAt(0) || ' ', c[4] | 0];
        return 1;
      }
      case 'handshake':
        state.myName = String(c[1]);
        state.myId = c[2];
        state.attempt = 0;
        state.connections++;
        setStatus('connected', 'Connected to room ' + state.room + ' as ' + state.myName);
        return 2;
      case 'world': {
        var rows = Array.isArray(c[1]) ? c[1] : [];
        state.height = rows.length;
        state.width = rows.length && Array.isArray(rows[0]) ? rows[0].length : 0;
        state.grid = rows.map(function (row) {
          var out = [];
          for (var x = 0; x < state.width; x++) {
            var cell = Array.isArray(row) && Array.isArray(row[x]) ? row[x] : [' ', 0];
            out.push([String(cell[0]).charAt(0) || ' ', cell[1] | 0]);
          }
          return out;
        });
        resizeCanvas();
        return 1;
      }
      case 'reset_world':
        state.grid = state.grid.map(function (row) {
          return row.map(function () { return [' ', 0]; });
        });
        return 1;
      case 'top_scores':
        state.topScores = (Array.isArray(c[1]) ? c[1] : []).filter(Array.isArray).map(function (r) {
          return [String(r[0]), Number(r[1]) || 0, r[2] | 0];
        });
        return 2;
      case 'p_joined': {
        var p = { id: c[1], name: String(c[2]), color: c[3] | 0, score: Number(c[4]) || 0 };
        state.players.set(p.id, p);
        if (p.id === state.myId) {
          state.alive = true;
          state.joinPending = false;
          state.myColor = p.color;
          ui.canvas.focus({ preventScroll: true });
        }
        return 2;
      }
      case 'p_gameover':
        state.players.delete(c[1]);
        if (c[1] === state.myId) {
          state.alive = false;
          state.joinPending = false;
        }
        return 2;
      case 'p_score': {
        var pl = state.players.get(c[1]);
        if (pl) pl.score = Number(c[2]) || 0;
        return 2;
      }
      case 'error':
        state.joinPending = false;
        showError('Server: ' + String(c[1]));
        return 2;
      case 'round':
        setRound(Number(c[1]));
        return 0;
      default:
        return 0;  // unknown commands are extensions we do not know
    }
  }

  function setRound(seconds) {
    clearInterval(roundTimer);
    roundTimer = null;
    if (seconds === null || !isFinite(seconds) || seconds < 0) {
      state.round = null;
      ui.round.hidden = true;
      return;
    }
    state.round = Math.round(seconds);
    var shown = state.round;
    var paint = function () {
      var m = Math.floor(shown / 60), s = shown % 60;
      ui.round.textContent = 'Round ends in ' + m + ':' + (s < 10 ? '0' : '') + s;
    };
    paint();
    ui.round.hidden = false;
    roundTimer = setInterval(function () {
      if (shown > 0) shown--;
      paint();
    }, 1000);
  }

  /* ---------- side panel ---------- */

  function renderPlayers() {
    var list = Array.from(state.players.values()).sort(function (a, b) {
      return b.score - a.score || String(a.name).localeCompare(b.name);
    });
    ui.players.replaceChildren();
    list.forEach(function (p) {
      var li = el('li', p.id === state.myId ? 'me' : '');
      li.appendChild(swatch(p.color));
      li.appendChild(el('span', 'who', p.name));
      if (p.id === state.myId) li.appendChild(el('span', 'you', '(you)'));
      li.appendChild(el('span', 'score', p.score));
      ui.players.appendChild(li);
    });
    ui.playersEmpty.hidden = list.length > 0;
    renderScoreList(ui.top, state.topScores.map(function (r) {
      return { name: r[0], score: r[1], color: r[2] };
    }));
    ui.topEmpty.hidden = state.topScores.length > 0;
  }

  function updateJoin() {
    var show = state.status === 'connected' && state.myId !== null && !state.alive;
    var hadFocus = document.activeElement === ui.join;
    ui.join.hidden = !show;
    ui.join.disabled = state.joinPending;
    ui.join.textContent = state.joinPending ? 'Joining\u2026' : 'Join';
    if (!show && hadFocus) ui.canvas.focus({ preventScroll: true });
  }

  ui.join.addEventListener('click', function () {
    if (state.alive || state.joinPending) return;
    if (send(['join'])) {
      state.joinPending = true;
      state.lastError = null;
      setStatus('connected', 'Connected to room ' + state.room + ' as ' + state.myName);
      updateJoin();
    }
  });

  ui.leave.addEventListener('click', function () {
    disconnect();
    showStart();
    ui.name.focus();
  });

  /* ---------- controls ---------- */

  var KEYS = {
    ArrowLeft: KEY_LEFT, ArrowUp: KEY_UP, ArrowRight: KEY_RIGHT, ArrowDown: KEY_DOWN,
    a: KEY_LEFT, w: KEY_UP, d: KEY_RIGHT, s: KEY_DOWN,
    A: KEY_LEFT, W: KEY_UP, D: KEY_RIGHT, S: KEY_DOWN
  };

  function steer(code) {
    if (state.alive) send(code);
  }

  document.addEventListener('keydown', function (ev) {
    if (state.screen !== 'play' || ev.ctrlKey || ev.metaKey || ev.altKey) return;
    var code = KEYS[ev.key];
    if (code === undefined) {
      // On the field, Enter or Space joins the game when there is no snake
      // to steer (and Space must not scroll the page).
      if ((ev.key === ' ' || ev.key === 'Enter') && ev.target === ui.canvas) {
        ev.preventDefault();
        if (!ui.join.hidden && !ui.join.disabled) ui.join.click();
      }
      return;
    }
    ev.preventDefault();
    steer(code);
  });

  ui.pad.addEventListener('click', function (ev) {
    var b = ev.target.closest('button[data-key]');
    if (b) steer(Number(b.getAttribute('data-key')));
  });

  // Swipes: a touch that travels far enough in one main direction turns the
  // snake once; the page never scrolls or zooms under the field.
  var touch = null;
  var SWIPE_MIN_PX = 24;
  function onTouchStart(ev) {
    if (ev.touches.length !== 1) { touch = null; return; }
    touch = { x: ev.touches[0].clientX, y: ev.touches[0].clientY, done: false };
  }
  function onTouchMove(ev) {
    if (ev.cancelable) ev.preventDefault();
    if (!touch || touch.done || !ev.touches.length) return;
    var dx = ev.touches[0].clientX - touch.x, dy = ev.touches[0].clientY - touch.y;
    if (Math.max(Math.abs(dx), Math.abs(dy)) < SWIPE_MIN_PX) return;
    touch.done = true;
    if (Math.abs(dx) > Math.abs(dy)) steer(dx > 0 ? KEY_RIGHT : KEY_LEFT);
    else steer(dy > 0 ? KEY_DOWN : KEY_UP);
  }
  function onTouchEnd() { touch = null; }
  ui.wrap.addEventListener('touchstart', onTouchStart, { passive: true });
  ui.wrap.addEventListener('touchmove', onTouchMove, { passive: false });
  ui.wrap.addEventListener('touchend', onTouchEnd);
  ui.wrap.addEventListener('touchcancel', onTouchEnd);

  /* ---------- drawing ---------- */

  var ctx = ui.canvas.getContext('2d');
  var view = { cell: 0, dpr: 1 };

  function resizeCanvas() {
    if (state.screen !== 'play') return;
    var w = state.width || 50, h = state.height || 25;
    var box = ui.wrap.getBoundingClientRect();
    var dpr = window.devicePixelRatio || 1;
    // Square cells, a whole number of device pixels each, so that the grid
    // lines land on pixel boundaries and the text stays sharp.
    var cellDev = Math.max(4, Math.floor(Math.min(box.width / w, box.height / h) * dpr));
    var cssW = cellDev * w / dpr, cssH = cellDev * h / dpr;
    ui.canvas.style.width = cssW + 'px';
    ui.canvas.style.height = cssH + 'px';
    if (ui.canvas.width !== cellDev * w) ui.canvas.width = cellDev * w;
    if (ui.canvas.height !== cellDev * h) ui.canvas.height = cellDev * h;
    ui.wrap.style.setProperty('--aspect', String(h / w));
    view.cell = cellDev;
    view.dpr = dpr;
    draw();
  }

  function roundRect(x, y, w, h, r) {
    ctx.beginPath();
    ctx.moveTo(x + r, y);
    ctx.arcTo(x + w, y, x + w, y + h, r);
    ctx.arcTo(x + w, y + h, x, y + h, r);
    ctx.arcTo(x, y + h, x, y, r);
    ctx.arcTo(x, y, x + w, y, r);
    ctx.closePath();
  }

  function draw() {
    var c = view.cell, w = state.width, h = state.height;
    if (!c || !w || !h) return;
    var W = c * w, H = c * h;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.fillStyle = '#0b0f14';
    ctx.fillRect(0, 0, W, H);
    // Grid: faint lines between cells.
    ctx.fillStyle = '#161d26';
    for (var gx = 1; gx < w; gx++) ctx.fillRect(gx * c, 0, 1, H);
    for (var gy = 1; gy < h; gy++) ctx.fillRect(0, gy * c, W, 1);
    ctx.textAlign = 'center';
    ctx.textBaseline = 'middle';
    var font = Math.round(c * 0.78) + 'px ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace';
    var bold = 'bold ' + font;
    var pad = Math.max(1, Math.round(c * 0.08));
    var rad = Math.max(1, Math.round(c * 0.22));
    for (var y = 0; y < h; y++) {
      var row = state.grid[y];
      for (var x = 0; x < w; x++) {
        var cell = row[x], ch = cell[0], col = COLORS[cell[1]] || COLORS[0];
        if (ch === ' ') continue;
        var px = x * c, py = y * c;
        if (BLOCK_CHARS.indexOf(ch) >= 0) {
          // Snake parts and stones get a tinted tile under their character.
          ctx.globalAlpha = cell[1] ? (ch === '%' ? 0.55 : 0.32) : 0.22;
          ctx.fillStyle = col;
          roundRect(px + pad, py + pad, c - 2 * pad, c - 2 * pad, rad);
          ctx.fill();
          ctx.globalAlpha = 1;
          if (ch === '%' && cell[1]) {
            ctx.strokeStyle = col;
            ctx.lineWidth = Math.max(1, Math.round(c * 0.07));
            ctx.stroke();
          }
        }
        ctx.font = (ch >= '0' && ch <= '9') || ch === '%' ? bold : font;
        ctx.fillStyle = col;
        ctx.fillText(ch, px + c / 2, py + c / 2 + c * 0.04);
      }
    }
    // Border so that the walls are visible.
    ctx.strokeStyle = '#3b4756';
    ctx.lineWidth = Math.max(1, Math.round(view.dpr));
    ctx.strokeRect(ctx.lineWidth / 2, ctx.lineWidth / 2, W - ctx.lineWidth, H - ctx.lineWidth);
  }

  if (window.ResizeObserver) new ResizeObserver(resizeCanvas).observe(ui.wrap);
  window.addEventListener('resize', resizeCanvas);
  // A change of devicePixelRatio (zoom, moving to another screen) is not a resize.
  (function watchDpr() {
    if (!window.matchMedia) return;
    var mq = window.matchMedia('(resolution: ' + (window.devicePixelRatio || 1) + 'dppx)');
    var on = function () { mq.removeEventListener('change', on); resizeCanvas(); watchDpr(); };
    if (mq.addEventListener) mq.addEventListener('change', on);
  })();

  /* ---------- debug hook (read-only snapshot) ---------- */

  function snapshot() {
    return {
      screen: state.screen,
      status: state.status,
      statusText: state.statusText,
      lastError: state.lastError,
      room: state.room,
      name: state.name,
      myName: state.myName,
      myId: state.myId,
      myColor: state.myColor,
      alive: state.alive,
      width: state.width,
      height: state.height,
      grid: state.grid.map(function (row) { return row.map(function (c) { return [c[0], c[1]]; }); }),
      players: Array.from(state.players.values()).map(function (p) {
        return { id: p.id, name: p.name, color: p.color, score: p.score };
      }),
      topScores: state.topScores.map(function (r) { return r.slice(); }),
      round: state.round,
      ticks: state.ticks,
      connections: state.connections,
      attempt: state.attempt,
      retryInMs: state.retryInMs,
      canvas: { width: ui.canvas.width, height: ui.canvas.height, cell: view.cell, dpr: view.dpr }
    };
  }
  Object.defineProperty(window, 'snakepit', {
    value: Object.freeze({ get state() { return snapshot(); } }),
    writable: false, configurable: false
  });

  /* ---------- start ---------- */

  ui.name.value = clampName(load('snakepit.name') || '');
  var fromUrl = new URLSearchParams(location.search).get('room');
  var savedRoom = fromUrl && ROOM_RE.test(fromUrl) ? fromUrl : load('snakepit.room');
  ui.room.value = savedRoom && ROOM_RE.test(savedRoom) ? savedRoom : 'default';
  showStart();
  (ui.name.value ? ui.form.querySelector('button[type=submit]') : ui.name).focus();
})();
