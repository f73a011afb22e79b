// digitnet's drawing page: draw on #pad with Pointer Events, send the canvas as a PNG to /api/predict
// (throttled while drawing, and once more when a stroke ends), show the digit, the ten probabilities
// and the 28x28 image the network saw. The same PNG goes to /api/read, whose reading of the whole
// number is shown under the pad, with each digit's box drawn over it (red and '?' where not sure); the two
// are asked apart, so a slow reading never holds back the digit. With "Look inside" open it asks
// /api/explain instead of /api/predict, which adds each layer's output and the gradient of one digit's score
// with respect to the 28x28 input.
"use strict";

(function () {
  const SIZE = 280;            // the pad's height in drawing units (CSS pixels at full size); its width follows
                               // its shape on the page: twice that on a wide screen, the same on a phone
  const PEN = 22;              // stroke width in those units: a marker, about MNIST's pen relative to the digit
  const THROTTLE_MS = 100;     // at most one request per this while drawing
  const INK = "#111", PAPER = "#fff";

  const pad = document.getElementById("pad");
  const ctx = pad.getContext("2d");
  const seen = document.getElementById("seen");
  const seenCtx = seen.getContext("2d");
  const digitEl = document.getElementById("digit");
  const boxes = document.getElementById("boxes");
  const boxesCtx = boxes.getContext("2d");
  const readingEl = document.getElementById("reading");
  const unsureEl = document.getElementById("unsure");
  const confidenceEl = document.getElementById("confidence");
  const barsEl = document.getElementById("bars");
  const statusEl = document.getElementById("status");
  const modelEl = document.getElementById("model");
  const insideEl = document.getElementById("inside");
  const toggleEl = document.getElementById("inside-toggle");
  const why = document.getElementById("why");
  const whyCtx = why.getContext("2d");
  const whyDigitEl = document.getElementById("why-digit");
  const whyCaptionEl = document.getElementById("why-caption");
  const layersEl = document.getElementById("layers");
  // the same colours as digitnet/explain.py's gradient_rgb
  const RED = [214, 39, 40], BLUE = [31, 90, 200];
  let insideOpen = false, chosen = null;   // chosen: the digit whose bar was clicked; null follows the reading

  // ---------------------------------------------------------------- the pad
  const scale = Math.min(2, window.devicePixelRatio || 1);   // crisp on high-density screens
  let WIDTH = 0;

  function padWidth() {   // the pad's width in drawing units, from its shape on the page
    return SIZE * Math.max(1, Math.round(pad.clientWidth / Math.max(1, pad.clientHeight)));
  }

  function fitPad() {     // (resizing a canvas clears it)
    WIDTH = padWidth();
    pad.width = boxes.width = Math.round(WIDTH * scale);
    pad.height = boxes.height = Math.round(SIZE * scale);
    ctx.setTransform(scale, 0, 0, scale, 0, 0);
    ctx.lineCap = "round";
    ctx.lineJoin = "round";
    ctx.lineWidth = PEN;
    ctx.strokeStyle = INK;
    ctx.fillStyle = INK;
  }
  fitPad();
  // A phone turned, a window resized or zoomed across the layout's breakpoint changes the pad's shape (2:1 wide,
  // 1:1 narrow): the drawing units follow it, or every stroke after would reach the server stretched. The ink
  // drawn so far cannot be kept in the new shape, so the pad is cleared and says so.
  new ResizeObserver(() => {   // (a window minimised, or a full-page screenshot, lays the pad out at 0 x 0 a moment)
    if (pad.clientWidth === 0 || pad.clientHeight === 0 || padWidth() === WIDTH) return;
    fitPad();
    clearAll();
    showStatus("The pad changed shape: draw again.", false);
  }).observe(pad);

  let hasInk = false, activePointer = null, last = null;
  let inkBox = null;   // the drawing's extent in drawing units: a lone dot is not sent (the server calls it a speck)

  function grow(p, width) {
    const r = width / 2;
    inkBox = inkBox ? { x0: Math.min(inkBox.x0, p.x - r), y0: Math.min(inkBox.y0, p.y - r),
                        x1: Math.max(inkBox.x1, p.x + r), y1: Math.max(inkBox.y1, p.y + r) }
                    : { x0: p.x - r, y0: p.y - r, x1: p.x + r, y1: p.y + r };
  }

  function bigEnough() {   // 4 % of the pad's longer side; the server refuses under 3 % as a speck
    return inkBox !== null && Math.max(inkBox.x1 - inkBox.x0, inkBox.y1 - inkBox.y0) >= 0.04 * Math.max(WIDTH, SIZE);
  }

  function paper() {
    ctx.save();
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.fillStyle = PAPER;
    ctx.fillRect(0, 0, pad.width, pad.height);
    ctx.restore();
  }

  function point(e) {
    const r = pad.getBoundingClientRect();
    return { x: (e.clientX - r.left) * WIDTH / r.width, y: (e.clientY - r.top) * SIZE / r.height };
  }

  // A pen's pressure (0..1) thins or thickens its stroke around the marker's width; mouse and finger draw the marker.
  function penWidth(e) {
    return e.pointerType === "pen" && e.pressure > 0 ? PEN * (0.45 + 1.1 * e.pressure) : PEN;
  }

  function dot(p, width) {
    grow(p, width);
    ctx.beginPath();
    ctx.arc(p.x, p.y, width / 2, 0, 2 * Math.PI);
    ctx.fill();
  }

  function line(a, b) {
    grow(a, ctx.lineWidth);
    grow(b, ctx.lineWidth);
    ctx.beginPath();
    ctx.moveTo(a.x, a.y);
    ctx.lineTo(b.x, b.y);
    ctx.stroke();
  }

  pad.addEventListener("pointerdown", (e) => {
    if (activePointer !== null || (e.pointerType === "mouse" && e.button !== 0)) return;
    e.preventDefault();
    activePointer = e.pointerId;
    try { pad.setPointerCapture(e.pointerId); } catch (_) { /* the pointer may already be gone */ }
    pad.classList.add("drawing");
    last = point(e);
    dot(last, penWidth(e));
    hasInk = true;
    requestPrediction(false);
  });

  pad.addEventListener("pointermove", (e) => {
    if (e.pointerId !== activePointer) return;
    e.preventDefault();
    const events = typeof e.getCoalescedEvents === "function" ? e.getCoalescedEvents() : [];
    for (const ev of (events.length ? events : [e])) {
      const p = point(ev);
      ctx.lineWidth = penWidth(ev);
      line(last, p);
      last = p;
    }
    requestPrediction(false);
  });

  function endStroke(e) {
    if (e.pointerId !== activePointer) return;
    activePointer = null;
    last = null;
    pad.classList.remove("drawing");
    requestPrediction(true);
  }
  pad.addEventListener("pointerup", endStroke);
  pad.addEventListener("pointercancel", endStroke);
  pad.addEventListener("lostpointercapture", endStroke);
  pad.addEventListener("contextmenu", (e) => e.preventDefault());

  // ---------------------------------------------------------------- results
  const bars = [];
  for (let d = 0; d < 10; d++) {
    const li = document.createElement("li");
    li.className = "bar";
    li.dataset.digit = String(d);
    li.innerHTML = '<span class="label"></span><span class="track"><span class="fill"></span></span><span class="pct"></span>';
    li.querySelector(".label").textContent = String(d);
    li.tabIndex = 0;
    li.title = `Look inside: what pushes the drawing toward ${d}`;
    li.addEventListener("click", () => choose(d));
    li.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); choose(d); } });
    barsEl.appendChild(li);
    bars.push({ li, fill: li.querySelector(".fill"), pct: li.querySelector(".pct") });
  }

  function percent(p) {
    return (100 * p).toFixed(1) + "%";
  }

  function showBars(probabilities) {
    const top = probabilities ? probabilities.indexOf(Math.max(...probabilities)) : -1;
    bars.forEach((bar, d) => {
      const p = probabilities ? probabilities[d] : 0;
      bar.fill.style.width = (100 * p).toFixed(2) + "%";
      bar.pct.textContent = probabilities ? percent(p) : "";
      bar.li.classList.toggle("top", d === top);
      bar.li.setAttribute("aria-label", probabilities ? `${d}: ${percent(p)}` : String(d));
    });
  }

  function showSeen(pixels) {
    const img = seenCtx.createImageData(28, 28);
    for (let i = 0; i < 784; i++) {
      const v = pixels ? Math.round(255 * Math.max(0, Math.min(1, pixels[i]))) : 0;
      img.data[4 * i] = img.data[4 * i + 1] = img.data[4 * i + 2] = v;
      img.data[4 * i + 3] = 255;
    }
    seenCtx.putImageData(img, 0, 0);
  }

  function showStatus(text, isError) {
    statusEl.textContent = text || "";
    statusEl.classList.toggle("error", Boolean(isError));
  }

  function showResult(r) {
    // rejected: the model says this is not a digit at all (docs/rejection.md)
    digitEl.textContent = r.rejected ? "?" : String(r.digit);
    digitEl.classList.remove("empty");
    confidenceEl.textContent = r.rejected
      ? "not a digit (at most " + percent(r.probabilities[r.digit]) + " a " + r.digit + ")"
      : percent(r.probabilities[r.digit]) + " sure";
    showBars(r.probabilities);
    showSeen(r.preprocessed);
    showStatus("");
    if (r.gradient) showExplanation(r);
  }

  // ---------------------------------------------------------------- the number read
  function showReading(r) {
    boxesCtx.clearRect(0, 0, boxes.width, boxes.height);
    readingEl.replaceChildren();
    if (!r) {
      readingEl.textContent = "–";
      readingEl.classList.add("empty");
      readingEl.dataset.text = "";
      unsureEl.hidden = true;
      return;
    }
    readingEl.classList.remove("empty");
    readingEl.dataset.text = r.text;
    const lines = [];
    for (const d of r.digits) (lines[d.line] = lines[d.line] || []).push(d);
    const font = Math.max(12, Math.round(boxes.height / 14));
    boxesCtx.lineWidth = Math.max(2, Math.round(scale * 2));
    boxesCtx.font = `600 ${font}px system-ui, sans-serif`;
    for (const line of lines.filter(Boolean)) {
      const span = document.createElement("span");
      span.className = "line";
      for (const d of line) {
        const s = document.createElement("span");
        s.className = "read-digit" + (d.rejected ? " rejected" : "");
        s.textContent = d.rejected ? "?" : String(d.value);
        s.title = d.rejected ? `not sure (${d.value}? ${percent(d.confidence)})` : `${d.value}: ${percent(d.confidence)} sure`;
        span.appendChild(s);
        const [x0, y0, x1, y1] = d.box;   // in the PNG's pixels, which are the pad's
        const colour = d.rejected ? "rgb(214, 39, 40)" : "rgb(44, 160, 44)";
        boxesCtx.strokeStyle = boxesCtx.fillStyle = colour;
        boxesCtx.strokeRect(x0, y0, x1 - x0, y1 - y0);
        boxesCtx.fillText(d.rejected ? "?" : String(d.value), x0 + 2, y0 > font + 2 ? y0 - 4 : y1 + font);
      }
      readingEl.appendChild(span);
    }
    unsureEl.hidden = !r.digits.some((d) => d.rejected);
  }

  // ---------------------------------------------------------------- look inside
  function showWhy(pixels, gradient) {
    const img = whyCtx.createImageData(28, 28);
    const peak = gradient ? Math.max(...gradient.map(Math.abs)) : 0;
    for (let i = 0; i < 784; i++) {
      const ink = pixels ? Math.max(0, Math.min(1, pixels[i])) : 0;
      const g = gradient ? gradient[i] : 0;
      const s = peak > 0 ? Math.sqrt(Math.abs(g) / peak) : 0;
      const colour = g > 0 ? RED : BLUE;
      for (let c = 0; c < 3; c++) img.data[4 * i + c] = Math.round((255 * (1 - s) + colour[c] * s) * (1 - 0.55 * ink));
      img.data[4 * i + 3] = 255;
    }
    whyCtx.putImageData(img, 0, 0);
  }

  function layerCaption(layer) {
    const [a, b, c] = layer.shape;
    const what = layer.shape.length === 3 ? `${a} maps ${b}×${c}` : `${a} units`;
    const kind = { conv: "convolution", pool: "pooling", affine: "affine" }[layer.kind] || layer.kind;
    return `<b></b> · ${kind} · ${what} · ${layer.min.toPrecision(3)} to ${layer.max.toPrecision(3)}`;
  }

  function showLayers(layers) {
    layersEl.replaceChildren(...layers.map((layer) => {
      const li = document.createElement("li");
      li.className = "layer " + layer.kind;
      li.dataset.name = layer.name;
      const name = document.createElement("p");
      name.className = "name";
      name.innerHTML = layerCaption(layer);
      name.querySelector("b").textContent = layer.name;
      const img = new Image();
      img.alt = `${layer.name}: output`;
      img.src = layer.image;
      if (layer.kind !== "affine") {   // tiles 2-4x their size, never wider than the panel
        img.addEventListener("load", () => {
          img.style.width = Math.round(img.naturalWidth * Math.max(2, Math.min(4, 300 / img.naturalWidth))) + "px";
        });
      }
      li.append(name, img);
      return li;
    }));
  }

  function showExplanation(r) {
    whyDigitEl.textContent = String(r.target);
    const score = r.score === "logit" ? "logit" : "log-probability";
    whyCaptionEl.textContent = `gradient of the ${score} of ${r.target} with respect to each input pixel` +
      (r.target === r.digit ? " (the digit read)" : ` (the network reads ${r.digit})`);
    showWhy(r.preprocessed, r.gradient);
    showLayers(r.layers);
    bars.forEach((bar, d) => bar.li.classList.toggle("chosen", d === r.target && chosen !== null));
    insideEl.dataset.target = String(r.target);
    insideEl.dataset.score = r.score;
  }

  function choose(d) {
    if (!insideOpen) setInside(true);
    chosen = d;
    requestPrediction(true);
  }

  function setInside(open) {
    insideOpen = open;
    insideEl.hidden = !open;
    toggleEl.setAttribute("aria-expanded", String(open));
    toggleEl.textContent = open ? "Hide the inside" : "Look inside";
    if (!open) chosen = null;
    requestPrediction(true);
  }

  toggleEl.addEventListener("click", () => setInside(!insideOpen));
  document.querySelectorAll('input[name="score"]').forEach((r) => r.addEventListener("change", () => requestPrediction(true)));

  function scoreChoice() {
    return document.querySelector('input[name="score"]:checked').value;
  }

  function endpoint() {
    if (!insideOpen) return "/api/predict";
    const q = new URLSearchParams({ score: scoreChoice() });
    if (chosen !== null) q.set("digit", String(chosen));
    return "/api/explain?" + q;
  }

  function reset() {
    digitEl.textContent = "–";
    digitEl.classList.add("empty");
    confidenceEl.innerHTML = "&nbsp;";
    showBars(null);
    showSeen(null);
    showStatus("");
    chosen = null;
    showWhy(null, null);
    showReading(null);
    whyDigitEl.textContent = "–";
    whyCaptionEl.innerHTML = "&nbsp;";
    layersEl.replaceChildren();
    bars.forEach((bar) => bar.li.classList.remove("chosen"));
    delete insideEl.dataset.target;
  }

  // ---------------------------------------------------------------- talking to the server
  // Two channels, the digit (/api/predict, or /api/explain with "Look inside" open) and the number (/api/read):
  // each has at most one request out and sends the latest drawing when it returns, so a slow reading of the whole
  // number never holds back the digit. A request unanswered after REQUEST_TIMEOUT_MS is given up, and so is every
  // request out when the pad is cleared: the page never waits for good on a connection that went silent.
  const REQUEST_TIMEOUT_MS = 30000;
  let generation = 0;
  const channels = [
    { url: endpoint, answer: answerDigit },
    { url: () => "/api/read", answer: answerNumber },
  ].map((c) => ({ ...c, dirty: false, out: null, lastSent: -Infinity, timer: null }));

  function requestPrediction(now) {
    if (!hasInk || !bigEnough()) return;
    for (const c of channels) { c.dirty = true; pump(c, now); }
  }

  function pump(c, now) {
    if (!c.dirty || c.out) return;        // a request out sends the latest drawing when it returns
    const wait = now ? 0 : c.lastSent + THROTTLE_MS - performance.now();
    if (wait > 0) {
      if (c.timer === null) c.timer = setTimeout(() => { c.timer = null; pump(c, true); }, wait);
      return;
    }
    if (c.timer !== null) { clearTimeout(c.timer); c.timer = null; }
    c.dirty = false;
    c.out = new AbortController();
    c.lastSent = performance.now();
    const gen = generation, url = c.url(), out = c.out;
    pad.toBlob((blob) => send(c, blob, gen, url, out), "image/png");
  }

  async function send(c, blob, gen, url, out) {
    const form = new FormData();
    form.append("image", blob, "drawing.png");
    const timer = setTimeout(() => out.abort("timeout"), REQUEST_TIMEOUT_MS);
    try {
      const res = await fetch(url, { method: "POST", body: form, signal: out.signal });
      const data = await res.json().catch(() => ({ error: `the server answered ${res.status}` }));
      if (gen === generation) c.answer(res, data);   // else cleared meanwhile: an answer about an old drawing
    } catch (err) {
      if (gen === generation && c.answer === answerNumber) {
        showReading(null);   // a read that failed or timed out: an older drawing's reading must not stay up
      } else if (gen === generation) {
        showStatus(out.signal.reason === "timeout"
          ? `The server did not answer in ${REQUEST_TIMEOUT_MS / 1000} s: is it still running?`
          : "Cannot reach the server: is `digitnet serve` still running?", true);
      }
    } finally {
      clearTimeout(timer);
      if (c.out === out) { c.out = null; pump(c, false); }   // (clearing has already let go of it)
    }
  }

  function answerDigit(res, data) {
    if (res.ok) {
      showResult(data);
    } else if (res.status === 422 && /no digit found/.test(data.error || "")) {
      showStatus("Keep drawing: no digit to read yet.", false);
    } else {
      showStatus(data.error || `the server answered ${res.status}`, true);
    }
  }

  function answerNumber(res, data) {
    showReading(res.ok ? data : null);
  }

  function clearAll() {
    generation++;
    for (const c of channels) {
      c.dirty = false;
      if (c.timer !== null) { clearTimeout(c.timer); c.timer = null; }
      if (c.out) { c.out.abort("cleared"); c.out = null; }
    }
    if (activePointer !== null) {   // cleared mid-stroke (Esc, or Clear tapped with another finger): the stroke ends
      try { pad.releasePointerCapture(activePointer); } catch (_) { /* already released */ }
      activePointer = null;
      last = null;
      pad.classList.remove("drawing");
    }
    hasInk = false;
    inkBox = null;
    paper();
    reset();
  }

  document.getElementById("clear").addEventListener("click", clearAll);
  document.addEventListener("keydown", (e) => {
    if (e.key === "Escape") clearAll();
  });

  async function loadModelInfo() {
    try {
      const res = await fetch("/health");
      const { model, committees } = await res.json();
      const parts = [model.architecture];
      // "MNIST offline sample (first 10,000 ...) at /path", "MNIST training digits 1-8,000 (...); digits ...": the
      // name is enough here; the rest is in the tooltip
      if (model.dataset) parts.push("trained on " + String(model.dataset).split(/ at | \(|;/)[0]);
      if (typeof model.test_accuracy === "number") parts.push("test accuracy " + percent(model.test_accuracy));
      const tip = [model.file, model.dataset];
      if (committees) {   // several nets answer (`digitnet serve` with no model named): the header's is one of them
        parts.push(`the digit read by ${committees.predict.length} nets together`);
        tip.push(`digit: ${committees.predict.join(" + ")}`, `number: ${committees.read.join(" + ")}`,
                 `Look inside: ${model.architecture}`);
      }
      modelEl.textContent = parts.join(" · ");
      modelEl.title = tip.filter(Boolean).join("\n");
    } catch (err) {
      modelEl.textContent = "model information unavailable";
    }
  }

  paper();
  reset();
  loadModelInfo();
})();
