/* The admin console's page: every action is a call to /admin/api/ with the
 * token the operator typed (kept in sessionStorage, for this tab only).
 * Everything the server sends is shown as text, never as markup. */
(function () {
  'use strict';
  var $ = function (id) { return document.getElementById(id); };
  var token = sessionStorage.getItem('snakepit.admin') || '';

  function el(tag, text, cls) {
    var e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (cls) e.className = cls;
    return e;
  }

  function say(text, error) {
    $('admin-result').textContent = text;
    $('admin-result').className = 'status' + (error ? ' error' : '');
  }

  /* One API call; resolves to the parsed answer, or null after saying why. */
  function api(method, path, body) {
    if (!token) { say('Enter the admin token first', true); return Promise.resolve(null); }
    var opts = { method: method, headers: { Authorization: 'Bearer ' + token } };
    if (body !== undefined) {
      opts.headers['Content-Type'] = 'application/json';
      opts.body = JSON.stringify(body);
    }
    return fetch('/admin/api/' + path, opts).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (doc) {
        if (r.ok) return doc;
        var why = doc && doc.error ? doc.error : 'HTTP ' + r.status;
        if (r.status === 429) why += ' (retry in ' + (r.headers.get('Retry-After') || '?') + ' s)';
        say('Refused (' + r.status + '): ' + why, true);
        return null;
      });
    }, function () { say('The server did not answer', true); return null; });
  }

  function button(text, cls, onclick) {
    var b = el('button', text, cls);
    b.type = 'button';
    b.addEventListener('click', onclick);
    return b;
  }

  function showRooms(doc) {
    var box = $('rooms');
    box.textContent = '';
    var sel = $('announce-room'), keep = sel.value;
    while (sel.options.length > 1) sel.remove(1);
    $('no-rooms').hidden = doc.rooms.length > 0;
    doc.rooms.sort(function (a, b) { return a.name < b.name ? -1 : 1; });
    doc.rooms.forEach(function (room) {
      var opt = el('option', room.name);
      opt.value = room.name;
      sel.appendChild(opt);
      var head = el('div', null, 'room-head');
      head.appendChild(el('h3', room.name + ' (' + room.members + ' connected, ' + room.snakes + ' snakes)'));
      head.appendChild(button('Close room ' + room.name, 'danger', function () {
        api('POST', 'close-room', { room: room.name }).then(function (r) {
          if (r) refresh().then(function () { say('Closed ' + room.name + ': ' + r.closed + ' connections'); });
        });
      }));
      box.appendChild(head);
      var table = el('table'), tb = el('tbody');
      var hr = el('tr');
      ['Id', 'Name', 'Playing', 'Score', ''].forEach(function (h) { hr.appendChild(el('th', h)); });
      table.appendChild(el('thead')).appendChild(hr);
      room.players.forEach(function (p) {
        var tr = el('tr');
        tr.appendChild(el('td', p.id));
        tr.appendChild(el('td', p.name, 'who'));
        tr.appendChild(el('td', p.alive ? 'yes' : 'watching'));
        tr.appendChild(el('td', p.score));
        var td = el('td');
        td.appendChild(button('Kick ' + p.name, 'danger', function () {
          api('POST', 'kick', { room: room.name, id: p.id }).then(function (r) {
            if (r) refresh().then(function () { say('Kicked ' + p.name + ' from ' + room.name); });
          });
        }));
        tr.appendChild(td);
        tb.appendChild(tr);
      });
      table.appendChild(tb);
      box.appendChild(table);
    });
    sel.value = keep;
    if (sel.value !== keep) sel.value = '';
  }

  function showScores(doc) {
    var tb = $('scores');
    tb.textContent = '';
    doc.scores.forEach(function (s) {
      var tr = el('tr');
      tr.appendChild(el('td', s.name, 'who'));
      tr.appendChild(el('td', s.score));
      var td = el('td');
      td.appendChild(button('Remove ' + s.name, 'danger', function () {
        api('POST', 'remove-score', { name: s.name }).then(function (r) {
          if (r) refresh().then(function () { say('Removed the score of ' + s.name); });
        });
      }));
      tr.appendChild(td);
      tb.appendChild(tr);
    });
  }

  function refresh() {
    return api('GET', 'rooms').then(function (doc) {
      if (!doc) return;
      showRooms(doc);
      say('Signed in' + (doc.node ? ' to node ' + doc.node : '') + ': ' + doc.rooms.length + ' rooms');
      return fetch('/api/scores').then(function (r) { return r.json(); }).then(showScores, function () {});
    });
  }

  $('token-form').addEventListener('submit', function (ev) {
    ev.preventDefault();
    token = $('token').value.trim();
    sessionStorage.setItem('snakepit.admin', token);
    refresh();
  });
  $('refresh').addEventListener('click', refresh);
  $('announce-form').addEventListener('submit', function (ev) {
    ev.preventDefault();
    var text = $('announce-text').value.trim(), room = $('announce-room').value || null;
    if (!text) { say('Write the announcement first', true); return; }
    api('POST', 'announce', { room: room, text: text }).then(function (r) {
      if (r) { say('Announcement sent to ' + (room || 'every room')); $('announce-text').value = ''; }
    });
  });
  if (token) { $('token').value = token; refresh(); }
})();
