// orbdeploy --report-html: tooltips and keyboard moves on the timeline, step tables built
// when a machine is opened, sortable tables. Every string from the run reaches the page
// through textContent, never as markup. The data block (#od-data) is written by
// src/report/html/data.rs: per machine n (name), p (phase 1: a action, s status,
// m message, d end in ms), s (steps: i index, n name, k kind, s status class, t start,
// d duration, h handler, c changes, r reason, x diff, a attempts, f failure {m message,
// c command, e exit code, o stdout, r stderr}, o orbctl calls); w maps a status class to
// its icon and word.
(function () {
  'use strict';
  var data = JSON.parse(document.getElementById('od-data').textContent);
  var W = data.w;
  var tip = document.getElementById('tip');
  var built = {};

  function secs(ms) { return (ms / 1000).toFixed(2) + 's'; }
  // A step's duration: milliseconds below a second, where 0.00s would hide them.
  function dur(ms) { return ms < 1000 ? ms + 'ms' : secs(ms); }
  function node(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) { e.className = cls; }
    if (text !== undefined && text !== null) { e.textContent = String(text); }
    return e;
  }
  function badge(cls) {
    var w = W[cls] || ['', cls];
    return node('span', 'st ' + cls, w[0] + ' ' + w[1]);
  }

  // The machine row and step of a bar (k is -1 for phase 1).
  function where(bar) {
    var track = bar.parentNode;
    var r = Number(track.parentNode.getAttribute('data-m'));
    var m = data.m[r];
    var k = Array.prototype.indexOf.call(track.children, bar) - (m.p ? 1 : 0);
    return { r: r, m: m, k: k };
  }

  function tipLines(bar) {
    var w = where(bar);
    var m = w.m;
    if (w.k < 0) {
      var lines = [m.n + ' · phase 1', m.p.a + ' — ' + m.p.s];
      if (m.p.m) { lines.push(m.p.m); }
      lines.push('phase 1 ended at ' + secs(m.p.d) + ', for every machine together');
      return lines;
    }
    var s = m.s[w.k];
    var out = [
      m.n + ' · #' + (s.i + 1) + (s.h ? ' handler' : '') + ' · ' + s.k,
      s.n,
      W[s.s][0] + ' ' + W[s.s][1] + ' · started at ' + secs(s.t) + ' · took ' + dur(s.d) +
        (s.a ? ' · ' + s.a + ' attempts' : '')
    ];
    var changes = s.c || [];
    for (var i = 0; i < changes.length && i < 6; i++) { out.push('• ' + changes[i]); }
    if (changes.length > 6) { out.push('… ' + (changes.length - 6) + ' more'); }
    if (s.r) { out.push(s.r); }
    if (s.f) { out.push(s.f.m.split('\n')[0]); }
    return out;
  }

  function showTip(bar) {
    tip.textContent = '';
    tipLines(bar).forEach(function (l, i) { tip.appendChild(node('div', i === 1 ? 't' : '', l)); });
    tip.hidden = false;
    var b = bar.getBoundingClientRect();
    var left = Math.max(4, Math.min(b.left, window.innerWidth - tip.offsetWidth - 8));
    var top = b.bottom + 6;
    if (top + tip.offsetHeight > window.innerHeight) { top = Math.max(4, b.top - tip.offsetHeight - 6); }
    tip.style.left = left + 'px';
    tip.style.top = top + 'px';
  }
  function hideTip() { tip.hidden = true; }

  // A diff, line by line, marked by its first character (the +/- stay: not colour alone).
  function diffPre(text) {
    var pre = node('pre', 'diff');
    text.split('\n').forEach(function (l, i, all) {
      if (i === all.length - 1 && l === '') { return; }
      var c = l.charAt(0);
      var cls = l.indexOf('@@') === 0 ? 'hunk' : c === '+' ? 'add' : c === '-' ? 'del' : '';
      pre.appendChild(node('span', cls, l + '\n'));
    });
    return pre;
  }

  function failureBox(f) {
    var d = node('details', 'failure');
    d.open = true;
    d.appendChild(node('summary', '', 'failure'));
    d.appendChild(node('pre', 'msg', f.m));
    if (f.c) { d.appendChild(node('h4', '', 'command')); d.appendChild(node('pre', 'cmd', f.c)); }
    if (f.e !== undefined) { d.appendChild(node('p', '', 'exit code ' + f.e)); }
    if (f.o) { d.appendChild(node('h4', '', 'stdout (last lines)')); d.appendChild(node('pre', 'stdout', f.o)); }
    if (f.r) { d.appendChild(node('h4', '', 'stderr (last lines)')); d.appendChild(node('pre', 'stderr', f.r)); }
    return d;
  }

  function whatCell(s) {
    var td = node('td', 'what');
    (s.c || []).forEach(function (c) { td.appendChild(node('div', '', c)); });
    if (s.r) { td.appendChild(node('div', 'why', s.r)); }
    if (s.x) {
      var d = node('details');
      d.appendChild(node('summary', '', 'diff'));
      d.appendChild(diffPre(s.x));
      td.appendChild(d);
    }
    if (s.f) { td.appendChild(failureBox(s.f)); }
    if (s.o) {
      var calls = node('details');
      calls.appendChild(node('summary', '', 'orbctl calls'));
      calls.appendChild(node('pre', 'calls', s.o.join('\n')));
      td.appendChild(calls);
    }
    return td;
  }

  // A machine's step table, built the first time it is needed.
  function build(r) {
    if (built[r]) { return; }
    built[r] = true;
    var holder = document.querySelector('#m-' + r + ' .steps');
    var m = data.m[r];
    var table = node('table');
    var head = node('tr');
    ['#', 'step', 'kind', 'status', 'start', 'time', 'what changed'].forEach(function (h) {
      var th = node('th', '', h);
      th.scope = 'col';
      head.appendChild(th);
    });
    table.appendChild(node('thead')).appendChild(head);
    var body = node('tbody');
    m.s.forEach(function (s, k) {
      var tr = node('tr');
      tr.id = 's-' + r + '-' + k;
      tr.appendChild(node('td', 'num', s.i + 1));
      var name = node('td', '', s.n);
      if (s.h) { name.appendChild(node('span', 'tag', 'handler')); }
      tr.appendChild(name);
      tr.appendChild(node('td', '', s.k));
      tr.appendChild(node('td')).appendChild(badge(s.s));
      tr.appendChild(node('td', 'num', secs(s.t)));
      tr.appendChild(node('td', 'num', dur(s.d) + (s.a ? ' (' + s.a + ' attempts)' : '')));
      tr.appendChild(whatCell(s));
      body.appendChild(tr);
    });
    table.appendChild(body);
    holder.appendChild(table);
  }

  // Open a machine's steps and show one of them (k < 0: the machine only).
  function reveal(r, k) {
    var d = document.getElementById('m-' + r);
    if (!d) { return; }
    build(r);
    d.open = true;
    var target = k >= 0 ? document.getElementById('s-' + r + '-' + k) : d;
    if (!target) { return; }
    var old = document.querySelector('tr.hit');
    if (old) { old.classList.remove('hit'); }
    if (k >= 0) { target.classList.add('hit'); }
    target.scrollIntoView({ block: 'center' });
  }

  // #s-R-K: step K of machine R in its table; #m-R: the machine's steps; #t-R-K: its
  // bar on the timeline, focused (with its tooltip; K = -1 is phase 1).
  function fromHash() {
    var h = /^#s-(\d+)-(\d+)$/.exec(location.hash);
    if (h) { reveal(Number(h[1]), Number(h[2])); return; }
    h = /^#m-(\d+)$/.exec(location.hash);
    if (h) { reveal(Number(h[1]), -1); return; }
    h = /^#t-(\d+)-(-?\d+)$/.exec(location.hash);
    var row = h && document.querySelector('.row[data-m="' + h[1] + '"]');
    var first = document.querySelector('.tl .b[tabindex]');
    if (row && first) {
      var bar = row.lastElementChild.children[Number(h[2]) + (data.m[Number(h[1])].p ? 1 : 0)];
      if (bar) { bar.scrollIntoView({ block: 'nearest' }); moveTo(first, bar); }
    }
  }

  // The timeline: one tab stop; the arrow keys move between bars and rows.
  function moveTo(from, to) {
    if (!to) { return; }
    from.removeAttribute('tabindex');
    to.tabIndex = 0;
    to.focus();
  }
  function nearest(track, x) {
    var best = null;
    var gap = Infinity;
    Array.prototype.forEach.call(track.children, function (b) {
      var r = b.getBoundingClientRect();
      var g = Math.abs((r.left + r.right) / 2 - x);
      if (g < gap) { gap = g; best = b; }
    });
    return best;
  }
  function onKey(e) {
    var bar = e.target;
    if (!bar.classList || !bar.classList.contains('b')) { return; }
    var track = bar.parentNode;
    var row = track.parentNode;
    var x = (bar.getBoundingClientRect().left + bar.getBoundingClientRect().right) / 2;
    var other;
    switch (e.key) {
      case 'ArrowRight': moveTo(bar, bar.nextElementSibling); break;
      case 'ArrowLeft': moveTo(bar, bar.previousElementSibling); break;
      case 'Home': moveTo(bar, track.firstElementChild); break;
      case 'End': moveTo(bar, track.lastElementChild); break;
      case 'ArrowDown':
      case 'ArrowUp':
        other = e.key === 'ArrowDown' ? row.nextElementSibling : row.previousElementSibling;
        while (other && !(other.classList.contains('row') && other.lastElementChild.children.length)) {
          other = e.key === 'ArrowDown' ? other.nextElementSibling : other.previousElementSibling;
        }
        if (other) { moveTo(bar, nearest(other.lastElementChild, x)); }
        break;
      case 'Enter':
      case ' ': var w = where(bar); reveal(w.r, w.k); break;
      case 'Escape': hideTip(); return;
      default: return;
    }
    e.preventDefault();
  }

  var tl = document.querySelector('.tl');
  if (tl) {
    tl.addEventListener('mouseover', function (e) { if (e.target.classList.contains('b')) { showTip(e.target); } });
    tl.addEventListener('mouseout', function (e) { if (e.target.classList.contains('b')) { hideTip(); } });
    tl.addEventListener('focusin', function (e) { if (e.target.classList.contains('b')) { showTip(e.target); } });
    tl.addEventListener('focusout', hideTip);
    tl.addEventListener('keydown', onKey);
    tl.addEventListener('click', function (e) {
      if (e.target.classList.contains('b')) { var w = where(e.target); reveal(w.r, w.k); }
    });
  }

  Array.prototype.forEach.call(document.querySelectorAll('details.machine'), function (d) {
    d.addEventListener('toggle', function () { if (d.open) { build(Number(d.getAttribute('data-m'))); } });
  });
  // A link to a step builds its table before the browser looks for the row.
  document.addEventListener('click', function (e) {
    var a = e.target.closest && e.target.closest('a[href^="#s-"], a[href^="#m-"]');
    if (!a) { return; }
    var h = /^#(?:s-(\d+)-(\d+)|m-(\d+))$/.exec(a.getAttribute('href'));
    if (h && h[1] !== undefined) { build(Number(h[1])); }
    if (h && h[3] !== undefined) { build(Number(h[3])); document.getElementById('m-' + h[3]).open = true; }
  });
  window.addEventListener('hashchange', fromHash);

  // Sortable tables: numbers by value, words by text; a second click reverses.
  Array.prototype.forEach.call(document.querySelectorAll('table.sortable th[data-sort] button'), function (btn) {
    btn.addEventListener('click', function () {
      var th = btn.parentNode;
      var table = th.closest('table');
      var col = th.cellIndex;
      var numeric = th.getAttribute('data-sort') === 'n';
      var dir = th.getAttribute('aria-sort') === 'ascending' ? -1 : 1;
      Array.prototype.forEach.call(table.tHead.rows[0].cells, function (c) { c.removeAttribute('aria-sort'); });
      th.setAttribute('aria-sort', dir === 1 ? 'ascending' : 'descending');
      var body = table.tBodies[0];
      var rows = Array.prototype.map.call(body.rows, function (tr, i) {
        var cell = tr.cells[col];
        var v = cell.getAttribute('data-v');
        if (v === null) { v = cell.textContent; }
        return { tr: tr, i: i, v: numeric ? Number(v) : v };
      });
      rows.sort(function (a, b) {
        var c = numeric ? a.v - b.v : a.v.localeCompare(b.v);
        return c * dir || a.i - b.i;
      });
      rows.forEach(function (x) { body.appendChild(x.tr); });
    });
  });

  fromHash();
  // For tests and the benchmark: the script ran to its end, this many ms after navigation.
  document.documentElement.setAttribute('data-ready', String(Math.round(performance.now())));
}());
