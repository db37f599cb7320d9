/* Snakepit browser client.
 *
 * Speaks docs/PROTOCOL.md over one WebSocket: v1 (["new_player", NAME],
 * ["join"], key codes 37..40; handshake, world, render, p_joined, ...) and
 * the extensions of the same document (room_info, p_died, round,
 * round_end, watching, chat, chat_refused). It keeps a copy of the field,
 * follows each snake from the renders so that it can glide between ticks,
 * and draws it on a canvas. Everything that comes from the server or from
 * other players is shown with textContent, never parsed as HTML.
 *
 * Drawing: the still cells (digits, stones, dead snakes, text) are painted
 * into an offscreen layer, one changed cell at a time. Each animation frame
 * copies that layer (or, on a small screen, the part the camera sees) and
 * draws the snakes on top, interpolated between the last two ticks; once
 * they have arrived, nothing is drawn until the next tick. The classic look
 * draws every cell as its character and does not glide.
 *
 * window.snakepit.state is a read-only snapshot for tests and debugging.
 */
(function () {
  'use strict';

  var NAME_MAX = 15;
  var ROOM_RE = /^[A-Za-z0-9_-]{1,32}$/;
  var BACKOFF_FIRST_MS = 500;
  var BACKOFF_MAX_MS = 10000;
  // A refused upgrade (503: the room is moving to another node, or the
  // cluster cannot place it now) carries Retry-After: 1. A page cannot
  // read the status of a refused WebSocket: it only sees a socket that
  // closes before it opened. Such a socket waits at least this long.
  var RETRY_AFTER_MS = 1000;
  var ROOMS_REFRESH_MS = 5000;
  var CAMERA_CELL_CSS = 16;     // cell size when the camera follows (>= 14)
  var MIN_CELL_CSS = 14;        // below this, the whole field is unreadable
  var CHAT_LOG_MAX = 100;
  var NOTICE_MS = 15000;
  var KEY_LEFT = 37, KEY_UP = 38, KEY_RIGHT = 39, KEY_DOWN = 40;
  // Colour 0 is for stones, dead snakes and text; 1..6 belong to snakes.
  var COLORS = ['#aeb6c2', '#ff6b6b', '#4ade80', '#60a5fa', '#facc15', '#e879f9', '#22d3ee'];
  var HEADS = ['#dfe4ea', '#ffb3b3', '#a7f3c4', '#b4d4fd', '#fde68a', '#f5c2fb', '#a5f3fc'];
  var BLOCK_CHARS = '%@*x+#';
  var BG = '#0b0f14', GRID = '#161d26';
  var CAUSES = {
    wall: 'You hit the wall',
    stone: 'You ran into a stone',
    self: 'You bit yourself',
    corpse: 'You hit a dead snake',
    obstacle: 'You crashed',
    round: 'Time is up',
    left: 'You left'
  };

  var $ = function (id) { return document.getElementById(id); };
  var ui = {
    status: $('status'),
    start: $('start-screen'), play: $('play-screen'),
    form: $('connect-form'), name: $('name'), room: $('room'), roomError: $('room-error'),
    playNow: $('play-now'), watch: $('watch'),
    rooms: $('rooms'), roomsEmpty: $('rooms-empty'), best: $('best-scores'),
    canvas: $('field'), minimap: $('minimap'), wrap: $('field-wrap'), round: $('round'),
    overlay: $('overlay'), overlayTitle: $('overlay-title'), overlayText: $('overlay-text'),
    standings: $('standings'), overlayNote: $('overlay-note'), overlayForm: $('overlay-form'),
    overlayNameRow: $('overlay-name-row'), overlayName: $('overlay-name'), playBtn: $('play'),
    bar: $('bar'), barText: $('bar-text'), more: $('more'), side: $('side'),
    copyLink: $('copy-link'), copyNote: $('copy-note'), leave: $('leave'),
    roomName: $('room-name'), watching: $('watching'),
    players: $('players'), playersEmpty: $('players-empty'),
    top: $('top-scores'), topEmpty: $('top-empty'),
    chatLog: $('chat-log'), chatEmpty: $('chat-empty'), chatForm: $('chat-form'),
    chatInput: $('chat-input'), chatError: $('chat-error'),
    sound: $('sound'), classic: $('classic'), pad: $('pad')
  };

  var state = {
    screen: 'start',          // 'start' | 'play'
    status: 'idle',           // 'idle' | 'connecting' | 'connected' | 'reconnecting'
    statusText: 'Not connected',
    lastError: null,          // an error shown until it stops being true
    notice: null,             // e.g. "The server restarted", shown for a while
    room: 'default',
    name: '',
    myName: null,             // the name as the server stored it
    myId: null,
    myColor: null,
    alive: false,
    wasAlive: false,          // had a snake when the connection dropped
    joinPending: false,
    wantJoin: false,          // join as soon as the handshake arrives
    width: 0, height: 0,
    grid: [],                 // grid[y][x] = [char, color]
    players: new Map(),       // id -> {id, name, color, score}
    seenColors: new Map(),    // name -> colour of the last snake seen with it
    topScores: [],            // [[name, score, color], ...]
    info: null,               // room_info's object
    boot: null,               // the server's boot id, to tell a restart
    watching: null,
    round: null,              // seconds left in a timed round, or null
    standings: null,          // {rows, until} while a round's standings show
    death: null,              // {cause, by, score, best} after my snake died
    myScore: 0,
    chat: [],                 // [{id, name, text}]
    announcements: [],        // texts of ["announce", TEXT], last ones
    removed: null,            // why the server removed us (close 4000, 4001)
    chatError: null,
    sound: false,
    classic: false,
    sounds: { eat: 0, die: 0, round: 0 },
    ticks: 0,                 // render frames seen on this connection
    tickMs: 100,              // time between ticks (room_info, else measured)
    lastCloseCode: null,
    connections: 0,           // successful handshakes since the page loaded
    attempt: 0,               // reconnect attempts since the last handshake
    retryInMs: null
  };

  var ws = null;
  var retryTimer = null;
  var roomsTimer = null;
  var standingsTimer = null;
  var noticeTimer = null;
  var chatErrorTimer = null;

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

  function plural(n, one, many) { return n + ' ' + (n === 1 ? one : many); }

  /* ---------- the status line: errors that clear when they stop being true ---------- */

  function baseStatusText() {
    return 'Connected to room ' + state.room + ' as ' + state.myName;
  }

  function setStatus(kind, text) {
    state.status = kind;
    state.statusText = text;
    ui.status.textContent = text;
    ui.status.className = 'status status-' + kind;
  }

  // An error from the server stays until `stillTrue` says it no longer
  // holds (checked after every change), or until the next request.
  function showError(text, stillTrue) {
    state.lastError = { text: text, stillTrue: stillTrue || null };
    state.statusText = text;
    ui.status.textContent = text;
    ui.status.className = 'status status-error';
  }

  function showNotice(text) {
    state.notice = text;
    clearTimeout(noticeTimer);
    noticeTimer = setTimeout(function () { state.notice = null; refreshStatus(); }, NOTICE_MS);
    refreshStatus();
  }

  function refreshStatus() {
    if (state.status !== 'connected') return;
    if (state.lastError && state.lastError.stillTrue && !state.lastError.stillTrue()) state.lastError = null;
    if (state.lastError) {
      showError(state.lastError.text, state.lastError.stillTrue);
    } else if (state.notice) {
      setStatus('connected', state.notice);
      ui.status.className = 'status status-notice';
    } else {
      setStatus('connected', baseStatusText());
    }
  }

  function roomIsFull() {
    var max = state.info && state.info.max_players;
    return max ? state.players.size >= max : false;
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
      b.appendChild(el('span', 'room-meta', plural(n, 'player', 'players') + ', ' + plural(s, 'snake', 'snakes')));
      b.addEventListener('click', function () {
        ui.room.value = r.name;
        sanitizeRoomInput();
        (ui.name.value ? ui.playNow : ui.name).focus();
      });
      li.appendChild(b);
      ui.rooms.appendChild(li);
    });
    ui.roomsEmpty.hidden = ui.rooms.children.length > 0;
  }

  function renderScoreList(ol, rows) {
    ol.replaceChildren();
    rows.forEach(function (row) {
      var li = el('li', row.me ? 'me' : '');
      li.appendChild(swatch(row.color));
      li.appendChild(el('span', 'who', row.name));
      if (row.me) li.appendChild(el('span', 'you', '(you)'));
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
    document.title = 'Snakepit';
    if (location.search) history.replaceState(null, '', location.pathname);
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
    document.title = state.room + ' \u00b7 Snakepit';
    // The address bar is the room's link: a reload comes back here.
    history.replaceState(null, '', '/?room=' + encodeURIComponent(state.room));
    ui.start.hidden = true;
    ui.play.hidden = false;
    ui.roomName.textContent = state.room;
    ui.chatLog.replaceChildren();
    state.chat = [];
    setSide(false);
    resizeCanvas();
    ui.canvas.focus({ preventScroll: true });
  }

  ui.room.addEventListener('input', sanitizeRoomInput);
  [ui.name, ui.overlayName].forEach(function (input) {
    input.addEventListener('input', function () {
      var c = Array.from(input.value);
      if (c.length > NAME_MAX) input.value = c.slice(0, NAME_MAX).join('');
    });
  });

  function enterRoom(join) {
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
    state.wantJoin = join;
    state.boot = null;
    showPlay();
    connect();
  }

  ui.form.addEventListener('submit', function (ev) {
    ev.preventDefault();
    enterRoom(true);
  });
  ui.watch.addEventListener('click', function () { enterRoom(false); });

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
    state.watching = null;
    state.standings = null;
    state.death = null;
    clearTimeout(standingsTimer);
    setRound(null);
    snakes.clear();
    renderPlayers();
    updateOverlay();
  }

  function connect() {
    state.removed = null;
    clearTimeout(retryTimer);
    retryTimer = null;
    state.retryInMs = null;
    resetSession();
    if (!state.attempt)
      setStatus('connecting', 'Connecting to room ' + state.room + '\u2026');
    var sock;
    try {
      sock = new WebSocket(wsUrl(state.room));
    } catch (e) {
      scheduleReconnect();
      return;
    }
    ws = sock;
    var opened = false;
    sock.onopen = function () {
      if (ws !== sock) return;
      opened = true;
      send(['new_player', state.name]);
    };
    sock.onmessage = function (ev) {
      if (ws !== sock) return;
      var frame;
      try { frame = JSON.parse(ev.data); } catch (e) { return; }
      handleFrame(frame);
    };
    sock.onclose = function (ev) {
      if (ws !== sock) return;
      ws = null;
      state.lastCloseCode = ev.code;
      state.wasAlive = state.wasAlive || state.alive;
      resetSession();
      if (ev.code === 4000 || ev.code === 4001) {
        // An administrator removed us (4000) or closed the room (4001):
        // coming straight back would undo it, so we do not reconnect.
        var why = ev.code === 4000 ? 'You were removed by an administrator' : 'The room was closed';
        state.removed = why + (ev.reason ? ': ' + ev.reason : '');
        setStatus('idle', state.removed);
        showError(state.removed);
        updateOverlay();
        return;
      }
      if (state.screen === 'play') scheduleReconnect(opened ? 0 : RETRY_AFTER_MS);
    };
    sock.onerror = function () { /* onclose follows */ };
  }

  function scheduleReconnect(atLeastMs) {
    var delay = Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * Math.pow(2, state.attempt));
    delay = Math.max(delay, atLeastMs || 0);
    state.attempt++;
    state.retryInMs = delay;
    var why = state.lastCloseCode === 1001 ? 'The server is restarting.' : 'Connection lost.';
    setStatus('reconnecting', why + ' Reconnecting in ' +
      Math.max(1, Math.round(delay / 1000)) + ' s (attempt ' + state.attempt + ')\u2026');
    clearTimeout(retryTimer);
    retryTimer = setTimeout(connect, delay);
    updateOverlay();
  }

  function disconnect() {
    clearTimeout(retryTimer);
    retryTimer = null;
    state.retryInMs = null;
    var sock = ws;
    ws = null;
    if (sock) { try { sock.close(1000, 'leave'); } catch (e) { /* already closed */ } }
    resetSession();
    state.lastError = null;
    state.notice = null;
    setStatus('idle', 'Not connected');
  }

  function send(msg) {
    if (ws && ws.readyState === WebSocket.OPEN) {
      ws.send(JSON.stringify(msg));
      return true;
    }
    return false;
  }

  function requestJoin() {
    if (state.alive || state.joinPending) return;
    if (state.standings && Date.now() < state.standings.until) return;
    var typed = clampName(ui.overlayName.value);
    if (!ui.overlayNameRow.hidden && state.myName !== null && typed && typed !== state.name) {
      // A new name needs a new registration: connect again, then join.
      state.name = typed;
      store('snakepit.name', typed);
      ui.name.value = typed;
      state.wantJoin = true;
      state.attempt = 0;
      var old = ws;
      ws = null;
      if (old) { try { old.close(1000, 'rename'); } catch (e) { /* closed */ } }
      connect();
      return;
    }
    if (send(['join'])) {
      state.joinPending = true;
      state.wantJoin = false;
      state.lastError = null;
      state.notice = null;
      refreshStatus();
      updateOverlay();
    } else {
      state.wantJoin = true;
    }
  }

  /* ---------- protocol ---------- */

  function handleFrame(frame) {
    if (!Array.isArray(frame)) return;
    // A frame is an array of commands; accept a lone command too.
    var cmds = typeof frame[0] === 'string' ? [frame] : frame;
    var renders = [], tick = true, people = false, field = false;
    for (var i = 0; i < cmds.length; i++) {
      var c = cmds[i];
      if (!Array.isArray(c) || typeof c[0] !== 'string') continue;
      if (c[0] === 'render') { renders.push(c); continue; }
      tick = false;
      if (renders.length) { applyRenders(renders); renders = []; field = true; }
      var what = apply(c);
      if (what === 1) field = true;
      else if (what === 2) people = true;
    }
    if (renders.length) { applyRenders(renders); field = true; }
    if (tick) onTick();  // every tick sends one render frame, even `[]`
    if (field) requestDraw();
    if (people) { renderPlayers(); refreshStatus(); updateOverlay(); }
  }

  // Applies one command other than render; returns 1 when the field
  // changed, 2 when the players, scores or what to offer changed.
  function apply(c) {
    switch (c[0]) {
      case 'handshake':
        state.myName = String(c[1]);
        state.myId = c[2];
        state.attempt = 0;
        state.connections++;
        setStatus('connected', baseStatusText());
        if (state.wantJoin) requestJoin();
        return 2;
      case 'world':
        loadWorld(Array.isArray(c[1]) ? c[1] : []);
        return 1;
      case 'reset_world':
        for (var y = 0; y < state.height; y++)
          for (var x = 0; x < state.width; x++) state.grid[y][x] = [' ', 0];
        snakes.clear();
        owner.fill(0);
        markAllDirty();
        return 1;
      case 'top_scores':
        state.topScores = (Array.isArray(c[1]) ? c[1] : []).filter(Array.isArray).map(function (r) {
          return [String(r[0]), Number(r[1]) || 0, r[2] | 0];
        });
        return 2;
      case 'p_joined': {
        var p = { id: c[1], name: String(c[2]), color: c[3] | 0, score: Number(c[4]) || 0 };
        state.players.set(p.id, p);
        state.seenColors.set(p.name, p.color);
        if (p.id === state.myId) {
          state.alive = true;
          state.wasAlive = false;
          state.joinPending = false;
          state.myColor = p.color;
          state.myScore = p.score;
          state.death = null;
          state.standings = null;
          expectMine = true;
          ui.canvas.focus({ preventScroll: true });
        }
        return 2;
      }
      case 'p_gameover':
        state.players.delete(c[1]);
        if (c[1] === state.myId) {
          state.alive = false;
          state.joinPending = false;
          noteBest(state.myScore);
          state.death = { cause: null, by: '', score: state.myScore, best: bestScore() };
          play('die');
        }
        return 2;
      case 'p_died':
        if (c[1] === state.myId && state.death) {
          state.death.cause = String(c[2]);
          state.death.by = String(c[5] || '');
          state.death.score = Number(c[3]) || 0;
          noteBest(state.death.score);
          state.death.best = bestScore();
        }
        return 2;
      case 'p_score': {
        var pl = state.players.get(c[1]);
        if (pl) pl.score = Number(c[2]) || 0;
        if (c[1] === state.myId) {
          if ((Number(c[2]) || 0) > state.myScore) play('eat');
          state.myScore = Number(c[2]) || 0;
        }
        return 2;
      }
      case 'error': {
        var text = String(c[1]);
        state.joinPending = false;
        if (text === 'Maximum players reached') {
          // True until a place is free: fewer snakes than the room allows
          // (or, from a server without room_info, until one died).
          var size = state.players.size;
          showError('Server: ' + text, function () {
            return state.info && state.info.max_players ? roomIsFull() : state.players.size >= size;
          });
        } else if (state.standings) {
          showError('Server: ' + text, function () {
            return !!state.standings && Date.now() < state.standings.until;
          });
        } else {
          showError('Server: ' + text, null);
        }
        return 2;
      }
      case 'room_info': {
        var info = c[1] && typeof c[1] === 'object' ? c[1] : {};
        state.info = info;
        if (Number(info.tick_rate) > 0) state.tickMs = 1000 / Number(info.tick_rate);
        var max = Number(info.chat_max_chars);
        if (max > 0) ui.chatInput.maxLength = max;
        var boot = typeof info.boot === 'string' ? info.boot : null;
        if (state.boot && boot && boot !== state.boot)
          showNotice('The server restarted.' + (state.wasAlive ? ' Your snake is gone: press Play to join again.' : ''));
        else if (state.wasAlive && state.connections > 1)
          showNotice('Reconnected. Your snake was lost with the connection.');
        state.wasAlive = false;
        state.boot = boot;
        return 2;
      }
      case 'watching':
        state.watching = Number(c[1]) || 0;
        return 2;
      case 'round':
        setRound(Number(c[1]));
        if (state.standings) { state.standings = null; clearTimeout(standingsTimer); }
        return 2;
      case 'round_end':
        setRound(null);
        startStandings(Number(c[1]) || 0, Array.isArray(c[2]) ? c[2] : []);
        play('round');
        return 2;
      case 'chat':
        addChat(c[1], String(c[2]), String(c[3]));
        return 0;
      case 'chat_refused':
        showChatError(String(c[1]), Number(c[2]) || 0);
        return 0;
      case 'announce':
        addAnnouncement(String(c[1]));
        return 0;
      default:
        return 0;  // unknown commands are extensions we do not know
    }
  }

  function setRound(seconds) {
    // Only what the server says: the clock never runs on its own, so it
    // cannot count down while the server's round does not.
    if (seconds === null || !isFinite(seconds) || seconds < 0) {
      state.round = null;
      ui.round.hidden = true;
      return;
    }
    state.round = Math.round(seconds);
    var m = Math.floor(state.round / 60), s = state.round % 60;
    ui.round.textContent = 'Round ends in ' + m + ':' + (s < 10 ? '0' : '') + s;
    ui.round.hidden = false;
  }

  function startStandings(seconds, rows) {
    state.standings = {
      rows: rows.filter(Array.isArray).map(function (r) {
        return { id: r[0], name: String(r[1]), color: r[2] | 0, score: Number(r[3]) || 0 };
      }),
      until: Date.now() + seconds * 1000
    };
    clearTimeout(standingsTimer);
    var tickDown = function () {
      if (!state.standings) return;
      updateOverlay();
      refreshStatus();
      if (Date.now() < state.standings.until) standingsTimer = setTimeout(tickDown, 250);
    };
    tickDown();
  }

  /* ---------- best scores, sound ---------- */

  function bestKey() { return 'snakepit.best.' + (state.myName || state.name || 'anonymous'); }
  function noteBest(score) {
    var best = Number(load(bestKey())) || 0;
    if (score > best) store(bestKey(), String(score));
  }
  function bestScore() {
    var best = Number(load(bestKey())) || 0;
    state.topScores.forEach(function (r) { if (r[0] === state.myName && r[1] > best) best = r[1]; });
    return best;
  }

  var audio = null;
  // Short generated effects (WebAudio): nothing is fetched.
  var SOUNDS = {
    eat: [[660, 0, 0.06], [990, 0.05, 0.08]],
    die: [[330, 0, 0.12], [196, 0.1, 0.25]],
    round: [[523, 0, 0.12], [659, 0.12, 0.12], [784, 0.24, 0.25]]
  };
  function play(name) {
    if (!state.sound) return;
    try {
      if (!audio) audio = new (window.AudioContext || window.webkitAudioContext)();
      if (audio.state === 'suspended') audio.resume();
      var t0 = audio.currentTime + 0.01;
      SOUNDS[name].forEach(function (n) {
        var osc = audio.createOscillator(), gain = audio.createGain();
        osc.type = name === 'die' ? 'sawtooth' : 'square';
        osc.frequency.setValueAtTime(n[0], t0 + n[1]);
        gain.gain.setValueAtTime(0.0001, t0 + n[1]);
        gain.gain.exponentialRampToValueAtTime(0.12, t0 + n[1] + 0.01);
        gain.gain.exponentialRampToValueAtTime(0.0001, t0 + n[1] + n[2]);
        osc.connect(gain).connect(audio.destination);
        osc.start(t0 + n[1]);
        osc.stop(t0 + n[1] + n[2] + 0.02);
      });
      state.sounds[name]++;
    } catch (e) { /* no audio here */ }
  }

  function setSound(on) {
    state.sound = on;
    store('snakepit.sound', on ? 'on' : 'off');
    ui.sound.setAttribute('aria-pressed', on ? 'true' : 'false');
    ui.sound.textContent = on ? 'Sound: on' : 'Sound: off';
  }
  ui.sound.addEventListener('click', function () {
    setSound(!state.sound);
    if (state.sound && !audio) {
      // Made inside the click, so that the browser lets it play.
      try { audio = new (window.AudioContext || window.webkitAudioContext)(); } catch (e) { /* none */ }
    }
  });

  ui.classic.addEventListener('change', function () {
    state.classic = ui.classic.checked;
    store('snakepit.classic', state.classic ? 'on' : 'off');
    markAllDirty();
    requestDraw();
  });

  /* ---------- chat ---------- */

  function addChat(id, name, text) {
    state.chat.push({ id: id, name: name, text: text });
    if (state.chat.length > CHAT_LOG_MAX) state.chat.shift();
    var li = el('li', id === state.myId ? 'me' : '');
    var p = state.players.get(id);
    var who = el('span', 'chat-who', name);
    if (p) who.style.color = COLORS[p.color] || '';
    li.appendChild(who);
    li.appendChild(el('span', 'chat-text', text));
    ui.chatLog.appendChild(li);
    while (ui.chatLog.children.length > CHAT_LOG_MAX) ui.chatLog.firstChild.remove();
    ui.chatLog.scrollTop = ui.chatLog.scrollHeight;
    ui.chatEmpty.hidden = true;
    if (id === state.myId) showChatError(null, 0);
  }

  // An operator's announcement: in the chat log, marked as such, and in
  // the status line for a while. Text only, like everything from outside.
  function addAnnouncement(text) {
    state.announcements.push(text);
    if (state.announcements.length > 5) state.announcements.shift();
    var li = el('li', 'announce');
    li.appendChild(el('span', 'chat-who', 'Announcement'));
    li.appendChild(el('span', 'chat-text', text));
    ui.chatLog.appendChild(li);
    while (ui.chatLog.children.length > CHAT_LOG_MAX) ui.chatLog.firstChild.remove();
    ui.chatLog.scrollTop = ui.chatLog.scrollHeight;
    ui.chatEmpty.hidden = true;
    showNotice('Announcement: ' + text);
  }

  function showChatError(text, retryMs) {
    clearTimeout(chatErrorTimer);
    state.chatError = text;
    ui.chatError.textContent = text ? text + (retryMs ? ' (wait ' + Math.ceil(retryMs / 1000) + ' s)' : '') : '';
    ui.chatError.hidden = !text;
    // "Too many messages" stops being true once the wait is over.
    if (text && retryMs) chatErrorTimer = setTimeout(function () { showChatError(null, 0); }, retryMs);
  }

  ui.chatForm.addEventListener('submit', function (ev) {
    ev.preventDefault();
    var text = ui.chatInput.value.trim();
    if (!text) return;
    if (send(['chat', text])) ui.chatInput.value = '';
  });

  /* ---------- side panel, overlay, bar ---------- */

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
    // A name in the colour of its snake, when the page saw one (the
    // server gives the name's own colour, which a snake gets when free).
    renderScoreList(ui.top, state.topScores.map(function (r) {
      var me = r[0] === state.myName, seen = state.seenColors.get(r[0]);
      return { name: r[0], score: r[1], color: me && state.myColor ? state.myColor : seen || r[2], me: me };
    }));
    ui.topEmpty.hidden = state.topScores.length > 0;
    var w = state.watching === null ? '' : state.watching + ' watching';
    ui.watching.textContent = w;
    var bar = [state.players.size + ' playing'];
    if (w) bar.push(w);
    if (state.alive) bar.push('score ' + state.myScore);
    if (state.round !== null) bar.push(ui.round.textContent.replace('Round ends in ', '\u23f1 '));
    ui.barText.textContent = state.room + ' \u00b7 ' + bar.join(' \u00b7 ');
  }

  function setSide(open) {
    ui.side.classList.toggle('open', open);
    ui.more.setAttribute('aria-expanded', open ? 'true' : 'false');
    ui.more.textContent = open ? 'Close' : 'Menu';
  }
  ui.more.addEventListener('click', function () { setSide(!ui.side.classList.contains('open')); });

  // What the field's card offers: play, play again after a death (with its
  // cause), the round's standings; nothing while my snake lives.
  function updateOverlay() {
    var connected = state.status === 'connected' && state.myId !== null;
    var mode = null;
    if (state.screen === 'play' && connected && !state.alive) {
      if (state.standings) mode = 'standings';
      else if (state.death) mode = 'dead';
      else mode = 'ready';
    }
    state.overlay = mode;
    var hadFocus = ui.overlay.contains(document.activeElement);
    ui.overlay.hidden = !mode;
    ui.overlay.className = 'overlay' + (mode ? ' overlay-' + mode : '');
    if (!mode) {
      if (hadFocus) ui.canvas.focus({ preventScroll: true });
      return;
    }
    var title = '', text = '', note = '', label = 'Play', disabled = state.joinPending;
    ui.standings.hidden = mode !== 'standings';
    if (mode === 'standings') {
      var rows = state.standings.rows;
      title = 'Round over';
      text = rows.length && rows[0].score > 0 ? 'Winner: ' + rows[0].name + ' with ' + plural(rows[0].score, 'point', 'points') : 'Nobody scored this round.';
      ui.standings.replaceChildren();
      rows.forEach(function (r) {
        var li = el('li', r.id === state.myId ? 'me' : '');
        li.appendChild(swatch(r.color));
        li.appendChild(el('span', 'who', r.name));
        if (r.id === state.myId) li.appendChild(el('span', 'you', '(you)'));
        li.appendChild(el('span', 'score', r.score));
        ui.standings.appendChild(li);
      });
      var left = Math.ceil((state.standings.until - Date.now()) / 1000);
      if (left > 0) {
        label = 'Next round in ' + left + ' s';
        disabled = true;
      } else {
        label = 'Play';
        note = 'The next round starts with the next player.';
      }
    } else if (mode === 'dead') {
      var d = state.death;
      title = d.cause === 'snake' ? (d.by ? 'You ran into ' + d.by : 'You ran into a snake')
        : (CAUSES[d.cause] || 'Your snake died');
      text = 'Score ' + d.score + ' \u00b7 Best ' + Math.max(d.best, d.score);
      label = 'Play again';
    } else {
      title = 'Room ' + state.room;
      var n = state.players.size;
      text = plural(n, 'snake', 'snakes') + ' playing' +
        (state.watching !== null ? ' \u00b7 ' + state.watching + ' watching' : '');
      if (roomIsFull()) note = 'The room is full: you can watch until a place is free.';
      if (state.notice) note = state.notice;
    }
    if (state.joinPending) label = 'Joining\u2026';
    ui.overlayTitle.textContent = title;
    ui.overlayText.textContent = text;
    ui.overlayNote.textContent = note;
    ui.overlayNote.hidden = !note;
    // The name can be set here when the page was opened from a room link.
    ui.overlayNameRow.hidden = !(mode === 'ready' && !load('snakepit.name'));
    ui.playBtn.textContent = label;
    ui.playBtn.disabled = disabled;
    ui.overlay.setAttribute('aria-label', title);
  }

  ui.overlayForm.addEventListener('submit', function (ev) {
    ev.preventDefault();
    if (!ui.overlayNameRow.hidden) {
      var typed = clampName(ui.overlayName.value);
      if (typed) store('snakepit.name', typed);
    }
    requestJoin();
  });

  ui.leave.addEventListener('click', function () {
    disconnect();
    showStart();
    ui.name.focus();
  });

  ui.copyLink.addEventListener('click', function () {
    var url = location.origin + '/?room=' + encodeURIComponent(state.room);
    var done = function (ok) {
      ui.copyLink.textContent = ok ? 'Link copied' : 'Copy link';
      ui.copyNote.textContent = ok ? 'Copied ' + url : 'Copy this link: ' + url;
      setTimeout(function () { ui.copyLink.textContent = 'Copy link'; }, 2000);
    };
    if (navigator.clipboard && navigator.clipboard.writeText) {
      navigator.clipboard.writeText(url).then(function () { done(true); }, function () { done(false); });
    } else {
      done(false);
    }
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
    var t = ev.target;
    if (t && (t.tagName === 'INPUT' || t.tagName === 'TEXTAREA')) return;  // typing a message
    var code = KEYS[ev.key];
    if (code === undefined) {
      // On the field, Enter or Space plays when there is no snake to steer
      // (and Space must not scroll the page).
      if ((ev.key === ' ' || ev.key === 'Enter') && t === ui.canvas) {
        ev.preventDefault();
        if (!ui.overlay.hidden && !ui.playBtn.disabled) ui.overlayForm.requestSubmit();
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
    if (ev.touches.length !== 1 || ui.overlay.contains(ev.target)) { touch = null; return; }
    touch = { x: ev.touches[0].clientX, y: ev.touches[0].clientY, done: false };
  }
  function onTouchMove(ev) {
    if (!touch) return;
    if (ev.cancelable) ev.preventDefault();
    if (touch.done || !ev.touches.length) return;
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

  /* ---------- the snakes, followed from the renders ---------- */

  // Each live snake the page saw being born (or could trace in a `world`):
  // its cells head first, and where its head and tail were before the last
  // tick, to glide between the two. owner[y * width + x] is the key of the
  // snake on a cell, 0 for none; those cells are not in the still layer.
  var snakes = new Map();
  var owner = new Int32Array(0);
  var nextKey = 1;
  var expectMine = false;
  var births = [];  // chains being born within the current frame

  function idx(x, y) { return y * state.width + x; }
  function adjacent(a, x, y) { return Math.abs(a[0] - x) + Math.abs(a[1] - y) === 1; }

  function addSnake(cells, color) {
    var s = { key: nextKey++, color: color, cells: cells, prevHead: null, prevTail: null, mine: false, moved: true };
    cells.forEach(function (c) { owner[idx(c[0], c[1])] = s.key; markDirty(c[0], c[1]); });
    if (expectMine && color === state.myColor) { s.mine = true; expectMine = false; }
    snakes.set(s.key, s);
    return s;
  }

  function dropSnake(s) {
    s.cells.forEach(function (c) {
      if (owner[idx(c[0], c[1])] === s.key) owner[idx(c[0], c[1])] = 0;
      markDirty(c[0], c[1]);
    });
    snakes.delete(s.key);
  }

  // One frame of renders, in the server's order (PROTOCOL.md): a move is
  // `%` new head, `@` old head, then ` ` old tail and `*` new tail; a
  // birth is `*`, `@`..., `%` from tail to head; a death repaints the snake
  // in colour 0 from its head `x`. Anything else on a snake's cell means we
  // lost track of it: it is drawn from the cells until it dies.
  function applyRenders(list) {
    var W = state.width, H = state.height;
    snakes.forEach(function (s) { s.moved = false; });
    births = [];
    for (var i = 0; i < list.length; i++) {
      var c = list[i];
      var x = c[1] | 0, y = c[2] | 0;
      if (y < 0 || y >= H || x < 0 || x >= W) continue;
      var ch = String(c[3]).charAt(0) || ' ', col = c[4] | 0;
      var k = owner[idx(x, y)];
      var s = k ? snakes.get(k) : null;
      state.grid[y][x] = [ch, col];
      markDirty(x, y);
      if (ch === '%' && col > 0 && !k) {
        var mover = null;
        snakes.forEach(function (t) {
          if (!t.moved && t.color === col && adjacent(t.cells[0], x, y)) mover = mover || t;
        });
        var chain = births.find(function (b) { return b.color === col && adjacent(b.cells[b.cells.length - 1], x, y); });
        if (mover && !chain) {
          mover.prevHead = mover.cells[0];
          mover.prevTail = null;
          mover.cells.unshift([x, y]);
          mover.moved = true;
          owner[idx(x, y)] = mover.key;
        } else if (chain) {
          chain.cells.push([x, y]);
          births.splice(births.indexOf(chain), 1);
          addSnake(chain.cells.reverse(), col);
        }
      } else if (ch === '@' && col > 0 && s && s.moved && s.cells[1] && s.cells[1][0] === x && s.cells[1][1] === y) {
        // the old head of a snake that just moved: nothing to learn
      } else if ((ch === '@' || ch === '*') && col > 0 && !k) {
        var b = births.find(function (b) { return b.color === col && adjacent(b.cells[b.cells.length - 1], x, y); });
        if (ch === '@' && b) b.cells.push([x, y]);
        else if (ch === '*') births.push({ color: col, cells: [[x, y]] });
      } else if (ch === '*' && s && s.cells.length > 1 && s.cells[s.cells.length - 1][0] === x && s.cells[s.cells.length - 1][1] === y) {
        // the new tail of a snake that moved
      } else if (ch === ' ' && s) {
        var tail = s.cells[s.cells.length - 1];
        if (tail[0] === x && tail[1] === y && s.cells.length > 1) {
          s.prevTail = tail;
          s.cells.pop();
          owner[idx(x, y)] = 0;
        } else {
          dropSnake(s);
        }
      } else if (s) {
        dropSnake(s);  // a death (`x` in colour 0) or something unforeseen
      }
    }
    // A snake that did not move this frame does not glide.
    snakes.forEach(function (t) {
      if (!t.moved) { t.prevHead = null; t.prevTail = null; }
      var h = t.cells[0], tl = t.cells[t.cells.length - 1];
      var gh = state.grid[h[1]][h[0]], gt = state.grid[tl[1]][tl[0]];
      if (gh[0] !== '%' || gh[1] !== t.color || (t.cells.length > 1 && (gt[0] !== '*' || gt[1] !== t.color))) dropSnake(t);
    });
  }

  function loadWorld(rows) {
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
    owner = new Int32Array(state.width * state.height);
    snakes.clear();
    // Trace each snake from its head along its colour to its tail; where
    // the way is not unique, leave it to the still layer.
    for (var y = 0; y < state.height; y++)
      for (var x = 0; x < state.width; x++) {
        var g = state.grid[y][x];
        if (g[0] !== '%' || !g[1]) continue;
        var cells = [[x, y]], seen = {}, ok = false;
        seen[x + ',' + y] = 1;
        for (;;) {
          var last = cells[cells.length - 1], next = [];
          [[1, 0], [-1, 0], [0, 1], [0, -1]].forEach(function (d) {
            var nx = last[0] + d[0], ny = last[1] + d[1];
            if (nx < 0 || ny < 0 || nx >= state.width || ny >= state.height || seen[nx + ',' + ny]) return;
            var n = state.grid[ny][nx];
            if (n[1] === g[1] && (n[0] === '@' || n[0] === '*') && !owner[idx(nx, ny)]) next.push([nx, ny, n[0]]);
          });
          if (next.length !== 1) break;
          cells.push([next[0][0], next[0][1]]);
          seen[next[0][0] + ',' + next[0][1]] = 1;
          if (next[0][2] === '*') { ok = true; break; }
        }
        if (ok) addSnake(cells, g[1]);
      }
    resizeCanvas();
    markAllDirty();
  }

  function mySnake() {
    var mine = null;
    snakes.forEach(function (s) { if (s.mine) mine = s; });
    if (!mine && state.alive && state.myColor) {
      var n = 0;
      snakes.forEach(function (s) { if (s.color === state.myColor) { mine = s; n++; } });
      if (n !== 1) mine = null;
    }
    return state.alive ? mine : null;
  }

  /* ---------- drawing ---------- */

  var ctx = ui.canvas.getContext('2d');
  var mini = ui.minimap.getContext('2d');
  var layer = document.createElement('canvas');  // the still cells, whole field
  var lctx = layer.getContext('2d');
  var view = { cell: 0, dpr: 1, camera: false, camX: 0, camY: 0, viewW: 0, viewH: 0, ready: false };
  var dirty = [], allDirty = true;
  var anim = { pending: false, tickAt: 0, lastTickAt: 0, count: 0, drawMs: 0, last: 0 };

  function markDirty(x, y) { if (!allDirty) dirty.push(x, y); }
  function markAllDirty() { allDirty = true; dirty = []; }

  function onTick() {
    state.ticks++;
    var now = performance.now();
    if (!(state.info && state.info.tick_rate) && anim.tickAt) {
      var gap = now - anim.tickAt;
      if (gap > 5 && gap < 5000) state.tickMs = state.tickMs * 0.8 + gap * 0.2;
    }
    anim.lastTickAt = anim.tickAt;
    anim.tickAt = now;
    drawMinimap();
  }

  function resizeCanvas() {
    if (state.screen !== 'play') return;
    var w = state.width || 50, h = state.height || 25;
    var box = ui.wrap.getBoundingClientRect();
    if (!box.width || !box.height) return;
    var dpr = window.devicePixelRatio || 1;
    var fit = Math.min(box.width / w, box.height / h);
    // Too small to read: the camera follows my snake with readable cells.
    view.camera = fit < MIN_CELL_CSS;
    // With the camera, the field fills the height (cells of 16 to 28 px)
    // and scrolls sideways.
    var cellCss = view.camera ? Math.max(CAMERA_CELL_CSS, Math.min(28, box.height / h)) : fit;
    // Square cells, a whole number of device pixels each, so that the grid
    // lines land on pixel boundaries and the text stays sharp.
    var cellDev = Math.max(4, Math.floor(cellCss * dpr));
    var cssW, cssH;
    if (view.camera) {
      cssW = Math.floor(box.width);
      cssH = Math.floor(box.height);
    } else {
      cssW = cellDev * w / dpr;
      cssH = cellDev * h / dpr;
    }
    ui.canvas.style.width = cssW + 'px';
    ui.canvas.style.height = cssH + 'px';
    var devW = view.camera ? Math.round(cssW * dpr) : cellDev * w;
    var devH = view.camera ? Math.round(cssH * dpr) : cellDev * h;
    if (ui.canvas.width !== devW) ui.canvas.width = devW;
    if (ui.canvas.height !== devH) ui.canvas.height = devH;
    if (layer.width !== cellDev * w || layer.height !== cellDev * h) {
      layer.width = cellDev * w;
      layer.height = cellDev * h;
    }
    ui.wrap.style.setProperty('--aspect', String(h / w));
    // Where the field's bottom edge is in its box, for the Play card.
    ui.wrap.style.setProperty('--field-gap', Math.max(0, (box.height - cssH) / 2) + 'px');
    view.cell = cellDev;
    view.dpr = dpr;
    view.viewW = devW;
    view.viewH = devH;
    view.ready = true;
    ui.minimap.hidden = !view.camera;
    if (view.camera) {
      var mcell = Math.max(1, Math.floor(Math.min(120 / w, 80 / h) * dpr));
      ui.minimap.width = mcell * w;
      ui.minimap.height = mcell * h;
      ui.minimap.style.width = mcell * w / dpr + 'px';
      ui.minimap.style.height = mcell * h / dpr + 'px';
      view.mcell = mcell;
    }
    markAllDirty();
    centreCamera(true);
    requestDraw();
    drawMinimap();
  }

  function roundRect(c, x, y, w, h, r) {
    c.beginPath();
    c.moveTo(x + r, y);
    c.arcTo(x + w, y, x + w, y + h, r);
    c.arcTo(x + w, y + h, x, y + h, r);
    c.arcTo(x, y + h, x, y, r);
    c.arcTo(x, y, x + w, y, r);
    c.closePath();
  }

  // Paints one cell of the still layer: the background and grid, then the
  // cell's character (on a tile for snake parts and stones). In the
  // gliding look, the cells of followed snakes stay empty here.
  function paintCell(x, y) {
    var c = view.cell, px = x * c, py = y * c;
    lctx.fillStyle = BG;
    lctx.fillRect(px, py, c, c);
    lctx.fillStyle = GRID;
    if (x > 0) lctx.fillRect(px, py, 1, c);
    if (y > 0) lctx.fillRect(px, py, c, 1);
    var cell = state.grid[y][x], ch = cell[0];
    if (ch === ' ') return;
    if (!state.classic && owner[idx(x, y)]) return;
    var col = COLORS[cell[1]] || COLORS[0];
    if (BLOCK_CHARS.indexOf(ch) >= 0) {
      var pad = Math.max(1, Math.round(c * 0.08)), rad = Math.max(1, Math.round(c * 0.22));
      lctx.globalAlpha = cell[1] ? (ch === '%' ? 0.6 : 0.32) : 0.22;
      lctx.fillStyle = col;
      roundRect(lctx, px + pad, py + pad, c - 2 * pad, c - 2 * pad, rad);
      lctx.fill();
      lctx.globalAlpha = 1;
      if (ch === '%' && cell[1]) {
        lctx.strokeStyle = HEADS[cell[1]];
        lctx.lineWidth = Math.max(1, Math.round(c * 0.1));
        lctx.stroke();
      }
    }
    var font = Math.round(c * 0.78) + 'px ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace';
    lctx.font = (ch >= '0' && ch <= '9') || ch === '%' ? 'bold ' + font : font;
    lctx.textAlign = 'center';
    lctx.textBaseline = 'middle';
    lctx.fillStyle = ch === '%' && cell[1] ? HEADS[cell[1]] : col;
    lctx.fillText(ch, px + c / 2, py + c / 2 + c * 0.04);
  }

  function paintLayer() {
    if (!view.ready || !state.width) return;
    if (allDirty) {
      for (var y = 0; y < state.height; y++)
        for (var x = 0; x < state.width; x++) paintCell(x, y);
      allDirty = false;
    } else {
      for (var i = 0; i < dirty.length; i += 2) paintCell(dirty[i], dirty[i + 1]);
    }
    dirty = [];
  }

  function progress(now) {
    if (!anim.tickAt || state.classic) return 1;
    return Math.max(0, Math.min(1, (now - anim.tickAt) / Math.max(16, state.tickMs)));
  }

  function lerp(a, b, t) { return [a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t]; }

  // The points of a snake's body at progress t of the last tick, in cells
  // (centres), head first.
  function snakePoints(s, t) {
    var pts = s.cells.map(function (c) { return [c[0] + 0.5, c[1] + 0.5]; });
    if (s.prevHead && pts.length > 1) pts[0] = lerp([s.prevHead[0] + 0.5, s.prevHead[1] + 0.5], pts[0], t);
    if (s.prevTail) pts.push(lerp([s.prevTail[0] + 0.5, s.prevTail[1] + 0.5], pts[pts.length - 1], t));
    return pts;
  }

  function headOf(s, t) { return snakePoints(s, t)[0]; }

  function centreCamera(jump) {
    if (!view.camera) { view.camX = view.camY = 0; return false; }
    var c = view.cell, worldW = state.width * c, worldH = state.height * c;
    var me = mySnake(), tx, ty;
    if (me) {
      var h = headOf(me, progress(performance.now()));
      tx = h[0] * c - view.viewW / 2;
      ty = h[1] * c - view.viewH / 2;
    } else {
      tx = (worldW - view.viewW) / 2;
      ty = (worldH - view.viewH) / 2;
    }
    tx = Math.max(Math.min(tx, worldW - view.viewW), 0);
    ty = Math.max(Math.min(ty, worldH - view.viewH), 0);
    if (worldW < view.viewW) tx = (worldW - view.viewW) / 2;
    if (worldH < view.viewH) ty = (worldH - view.viewH) / 2;
    var dx = tx - view.camX, dy = ty - view.camY;
    if (jump || Math.abs(dx) > view.viewW || Math.abs(dy) > view.viewH) {
      view.camX = tx;
      view.camY = ty;
      return false;
    }
    view.camX += dx * 0.25;
    view.camY += dy * 0.25;
    return Math.abs(dx) > 0.5 || Math.abs(dy) > 0.5;
  }

  function drawSnake(s, t, c) {
    var pts = snakePoints(s, t);
    var col = COLORS[s.color] || COLORS[0];
    var width = c * 0.62;
    ctx.lineCap = 'round';
    ctx.lineJoin = 'round';
    var path = function () {
      ctx.beginPath();
      ctx.moveTo(pts[0][0] * c, pts[0][1] * c);
      for (var i = 1; i < pts.length; i++) ctx.lineTo(pts[i][0] * c, pts[i][1] * c);
      if (pts.length === 1) ctx.lineTo(pts[0][0] * c + 0.01, pts[0][1] * c);
    };
    if (s.mine) {
      // My own snake: a white outline around all of it.
      path();
      ctx.strokeStyle = '#ffffff';
      ctx.lineWidth = width + Math.max(3, c * 0.22);
      ctx.stroke();
    }
    path();
    ctx.strokeStyle = col;
    ctx.lineWidth = width;
    ctx.stroke();
    // The head: larger, lighter, with eyes looking ahead.
    var h = pts[0], n = pts[1] || [h[0] - 0.01, h[1]];
    var dx = h[0] - n[0], dy = h[1] - n[1], len = Math.hypot(dx, dy) || 1;
    dx /= len; dy /= len;
    ctx.beginPath();
    ctx.arc(h[0] * c, h[1] * c, c * 0.46, 0, Math.PI * 2);
    ctx.fillStyle = HEADS[s.color] || HEADS[0];
    ctx.fill();
    ctx.lineWidth = Math.max(1.5, c * 0.09);
    ctx.strokeStyle = s.mine ? '#ffffff' : col;
    ctx.stroke();
    ctx.fillStyle = '#0b0f14';
    [-1, 1].forEach(function (side) {
      var ex = h[0] + dx * 0.16 - dy * side * 0.2, ey = h[1] + dy * 0.16 + dx * side * 0.2;
      ctx.beginPath();
      ctx.arc(ex * c, ey * c, Math.max(1, c * 0.08), 0, Math.PI * 2);
      ctx.fill();
    });
  }

  function drawFrame(now) {
    anim.pending = false;
    if (state.screen !== 'play' || !view.ready || !state.width) return;
    var t0 = performance.now();
    paintLayer();
    var t = progress(now);
    var moving = centreCamera(false);
    var c = view.cell;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.fillStyle = '#05070a';
    ctx.fillRect(0, 0, view.viewW, view.viewH);
    var sx = Math.round(view.camX), sy = Math.round(view.camY);
    // Copy what the camera sees of the still layer (all of it without camera).
    var srcX = Math.max(0, sx), srcY = Math.max(0, sy);
    var w = Math.min(layer.width - srcX, view.viewW - (srcX - sx));
    var h = Math.min(layer.height - srcY, view.viewH - (srcY - sy));
    if (w > 0 && h > 0) ctx.drawImage(layer, srcX, srcY, w, h, srcX - sx, srcY - sy, w, h);
    ctx.setTransform(1, 0, 0, 1, -sx, -sy);
    if (!state.classic) {
      snakes.forEach(function (s) { if (!s.mine) drawSnake(s, t, c); });
      snakes.forEach(function (s) { if (s.mine) drawSnake(s, t, c); });
    } else {
      var me = mySnake();
      if (me) {
        // Classic look: my cells get a white frame.
        ctx.strokeStyle = '#ffffff';
        ctx.lineWidth = Math.max(1, Math.round(c * 0.08));
        me.cells.forEach(function (p) { ctx.strokeRect(p[0] * c + 1, p[1] * c + 1, c - 2, c - 2); });
      }
    }
    // The walls.
    ctx.strokeStyle = '#3b4756';
    ctx.lineWidth = Math.max(1, Math.round(view.dpr));
    ctx.strokeRect(ctx.lineWidth / 2, ctx.lineWidth / 2, state.width * c - ctx.lineWidth, state.height * c - ctx.lineWidth);
    anim.count++;
    anim.drawMs += performance.now() - t0;
    anim.last = now;
    if ((t < 1 && snakes.size) || moving) requestDraw();
  }

  function requestDraw() {
    if (anim.pending) return;
    anim.pending = true;
    requestAnimationFrame(drawFrame);
  }

  function drawMinimap() {
    if (!view.camera || ui.minimap.hidden || !state.width) return;
    var m = view.mcell, W = state.width, H = state.height;
    mini.fillStyle = 'rgba(5, 7, 10, 0.85)';
    mini.fillRect(0, 0, W * m, H * m);
    for (var y = 0; y < H; y++)
      for (var x = 0; x < W; x++) {
        var cell = state.grid[y][x];
        if (cell[0] === ' ') continue;
        mini.fillStyle = cell[1] ? COLORS[cell[1]] : '#4b5563';
        if (cell[0] >= '1' && cell[0] <= '9') mini.globalAlpha = 0.6;
        mini.fillRect(x * m, y * m, m, m);
        mini.globalAlpha = 1;
      }
    var me = mySnake();
    if (me) {
      mini.fillStyle = '#ffffff';
      me.cells.forEach(function (p) { mini.fillRect(p[0] * m, p[1] * m, m, m); });
    }
    // What the camera shows.
    var c = view.cell;
    mini.strokeStyle = 'rgba(255, 255, 255, 0.7)';
    mini.lineWidth = 1;
    mini.strokeRect(view.camX / c * m + 0.5, view.camY / c * m + 0.5, view.viewW / c * m - 1, view.viewH / c * m - 1);
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
    var me = mySnake();
    return {
      screen: state.screen,
      status: state.status,
      statusText: state.statusText,
      lastError: state.lastError ? state.lastError.text : null,
      notice: state.notice,
      announcements: state.announcements.slice(),
      removed: state.removed,
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
      info: state.info,
      watching: state.watching,
      round: state.round,
      standings: state.standings ? state.standings.rows.slice() : null,
      death: state.death ? Object.assign({}, state.death) : null,
      overlay: state.overlay || null,
      chat: state.chat.slice(),
      sound: state.sound,
      sounds: Object.assign({}, state.sounds),
      classic: state.classic,
      followed: snakes.size,
      mine: me ? { color: me.color, cells: me.cells.map(function (c) { return c.slice(); }) } : null,
      ticks: state.ticks,
      tickMs: state.tickMs,
      connections: state.connections,
      attempt: state.attempt,
      retryInMs: state.retryInMs,
      render: { frames: anim.count, drawMs: anim.drawMs },
      canvas: {
        width: ui.canvas.width, height: ui.canvas.height, cell: view.cell, dpr: view.dpr,
        camera: view.camera, camX: view.camX, camY: view.camY
      }
    };
  }
  Object.defineProperty(window, 'snakepit', {
    value: Object.freeze({ get state() { return snapshot(); } }),
    writable: false, configurable: false
  });

  /* ---------- start ---------- */

  state.classic = load('snakepit.classic') === 'on';
  ui.classic.checked = state.classic;
  setSound(load('snakepit.sound') === 'on');
  ui.name.value = clampName(load('snakepit.name') || '');
  ui.overlayName.value = ui.name.value;
  var fromUrl = new URLSearchParams(location.search).get('room');
  var savedRoom = fromUrl && ROOM_RE.test(fromUrl) ? fromUrl : load('snakepit.room');
  ui.room.value = savedRoom && ROOM_RE.test(savedRoom) ? savedRoom : 'default';
  if (fromUrl && ROOM_RE.test(fromUrl)) {
    // A room link opens that room at once; Play is one click away.
    state.name = ui.name.value;
    state.room = fromUrl;
    showPlay();
    connect();
  } else {
    showStart();
    (ui.name.value ? ui.playNow : ui.name).focus();
  }
})();
