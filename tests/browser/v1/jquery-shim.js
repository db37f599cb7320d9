/* The few jQuery calls of the original Snakepit page, on the DOM: $(fn),
 * $().ready(fn), $(selector or element) with click, text, val, hide, show,
 * html, attr, css, remove, append, empty, bind and unbind. Like jQuery,
 * html() and append() parse markup: the original page does that. */
(function () {
  function Wrap(nodes) { this.nodes = nodes; }
  Wrap.prototype.each = function (f) { this.nodes.forEach(f); return this; };
  Wrap.prototype.ready = function (f) {
    if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', f);
    else setTimeout(f, 0);
    return this;
  };
  Wrap.prototype.click = function (f) { return this.each(function (n) { n.addEventListener('click', f); }); };
  Wrap.prototype.bind = function (ev, f) { return this.each(function (n) { n.addEventListener(ev, f); }); };
  Wrap.prototype.unbind = function (ev, f) { return this.each(function (n) { n.removeEventListener(ev, f); }); };
  Wrap.prototype.text = function (v) {
    if (v === undefined) return this.nodes.length ? this.nodes[0].textContent : '';
    return this.each(function (n) { n.textContent = String(v); });
  };
  Wrap.prototype.val = function () { return this.nodes.length ? this.nodes[0].value : undefined; };
  Wrap.prototype.hide = function () { return this.each(function (n) { n.style.display = 'none'; }); };
  Wrap.prototype.show = function () { return this.each(function (n) { n.style.display = 'block'; }); };
  Wrap.prototype.html = function (v) { return this.each(function (n) { n.innerHTML = String(v); }); };
  Wrap.prototype.attr = function (k, v) { return this.each(function (n) { n.setAttribute(k, v); }); };
  Wrap.prototype.css = function (k, v) { return this.each(function (n) { n.style[k] = v; }); };
  Wrap.prototype.remove = function () { return this.each(function (n) { n.remove(); }); };
  Wrap.prototype.append = function (h) { return this.each(function (n) { n.insertAdjacentHTML('beforeend', h); }); };
  Wrap.prototype.empty = function () { return this.each(function (n) { n.replaceChildren(); }); };
  window.$ = window.jQuery = function (x) {
    if (x === undefined) return new Wrap([document]);
    if (typeof x === 'function') return new Wrap([document]).ready(x);
    if (typeof x === 'string') return new Wrap(Array.from(document.querySelectorAll(x)));
    return new Wrap([x]);
  };
})();
