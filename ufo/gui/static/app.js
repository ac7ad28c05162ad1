// ufo GUI front-end: plain JavaScript, no build step. Every number comes from the server's API.
"use strict";
const $ = (id) => document.getElementById(id);
let fields = [];
let axisData = null;
let currentRun = null;
let sliceData = null;
let contrastByHand = false;  // min/max typed by the user: kept for later slices of the run; else each slice's own

async function api(path, body) {
  const response = await fetch(path, body === undefined ? {} :
    { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(data.detail || data.error || response.statusText);
  return data;
}

function decode(image) {
  const bytes = Uint8Array.from(atob(image.data), (c) => c.charCodeAt(0));
  return new Float32Array(bytes.buffer);
}

function draw(canvas, values, width, height, low, high) {
  canvas.width = width; canvas.height = height;
  const context = canvas.getContext("2d");
  const pixels = context.createImageData(width, height);
  const scale = high > low ? 255 / (high - low) : 0;
  for (let i = 0; i < width * height; i++) {
    const v = Math.max(0, Math.min(255, (values[i] - low) * scale));
    pixels.data[4 * i] = pixels.data[4 * i + 1] = pixels.data[4 * i + 2] = v;
    pixels.data[4 * i + 3] = 255;
  }
  context.putImageData(pixels, 0, 0);
}

// -- the form ---------------------------------------------------------------------------
function buildForm(schema) {
  fields = schema.fields;
  const form = $("reco-form");
  const groups = {};
  for (const f of fields) {
    if (!groups[f.group]) {
      const set = document.createElement("fieldset");
      set.appendChild(document.createElement("legend")).textContent = f.group;
      form.appendChild(set);
      groups[f.group] = set;
    }
    const row = document.createElement("div");
    row.className = "field";
    let input;
    if (f.kind === "bool" && f.default === null) {  // three states: as the input says (null), yes, no
      input = document.createElement("select");
      input.dataset.kind = "maybe";
      input.add(new Option(f.default_text || "as the scan records", ""));
      input.add(new Option("yes", "true"));
      input.add(new Option("no", "false"));
    } else if (f.kind === "bool") {
      input = document.createElement("input"); input.type = "checkbox";
      input.checked = f.default === true;
    } else if (f.kind === "select") {  // choices of the option's declaration; empty: its default
      input = document.createElement("select");
      if (f.default === null) input.add(new Option("", ""));
      for (const choice of f.choices) input.add(new Option(String(choice), String(choice)));
      if (f.default !== null) input.value = String(f.default);
    } else {  // text: numbers may carry a unit ("20 keV"); the server converts and checks them
      input = document.createElement("input");
      input.type = "text";
      input.value = f.default === null || f.default === undefined ? "" : f.default;
      if (f.default_text) input.placeholder = f.default_text;
      else if (f.unit) input.placeholder = f.unit;
    }
    input.id = `field-${f.name}`; input.name = f.name; input.title = f.help;
    input.addEventListener("change", validateSoon);
    const label = document.createElement("label");
    label.htmlFor = input.id;
    label.textContent = f.unit ? `${f.label} (${f.unit})` : f.label;
    row.appendChild(label);
    if (f.kind === "path") {
      const wrap = document.createElement("span");
      wrap.className = "path";
      const browse = document.createElement("button");
      browse.type = "button"; browse.textContent = "…"; browse.id = `browse-${f.name}`;
      browse.title = "choose a file below the GUI's root";
      browse.addEventListener("click", () => openBrowser(input, "."));
      wrap.append(input, browse);
      row.appendChild(wrap);
    } else {
      row.appendChild(input);
    }
    const help = document.createElement("small");
    help.textContent = f.help;
    const error = document.createElement("span");
    error.className = "error"; error.id = `error-${f.name}`;
    row.append(help, error);
    groups[f.group].appendChild(row);
  }
}

function values() {
  const out = {};
  for (const f of fields) {
    const input = $(`field-${f.name}`);
    if (input.dataset.kind === "maybe") out[f.name] = input.value === "" ? null : input.value === "true";
    else out[f.name] = f.kind === "bool" ? input.checked : input.value;
  }
  return out;
}

function setValues(data) {
  for (const [name, value] of Object.entries(data)) {
    const input = $(`field-${name}`);
    if (!input) continue;
    if (input.type === "checkbox") input.checked = !!value;
    else if (input.dataset.kind === "maybe") input.value = value === null || value === undefined ? "" : String(!!value);
    else input.value = value ?? "";
  }
  validateSoon();
}

let validateTimer = null;
function validateSoon() { clearTimeout(validateTimer); validateTimer = setTimeout(validate, 250); }

async function validate() {
  let errors;
  try {
    ({ errors } = await api("/api/validate", values()));
  } catch (error) {  // refused outright (a path outside the root, a malformed one): its message names the field
    const field = fields.find((f) => error.message.startsWith(`${f.name}:`));
    errors = { [field ? field.name : ""]: error.message };
  }
  for (const f of fields) {
    $(`error-${f.name}`).textContent = errors[f.name] || "";
    $(`field-${f.name}`).classList.toggle("invalid", !!errors[f.name]);
  }
  $("form-status").textContent = errors[""] || (Object.keys(errors).length ? "fix the marked fields" : "ready");
  return Object.keys(errors).length === 0;
}

// -- the file browser (stays inside the server's root) ----------------------------------------
async function openBrowser(input, path) {
  let list = $("file-browser");
  if (!list) {
    list = document.createElement("div");
    list.id = "file-browser";
    document.body.appendChild(list);
  }
  const listing = await api(`/api/files?path=${encodeURIComponent(path)}`);
  const rect = input.getBoundingClientRect();
  list.style.left = `${rect.left + window.scrollX}px`;
  list.style.top = `${rect.bottom + window.scrollY}px`;
  list.replaceChildren();  // names come from the file system: text, never markup (a folder named <img onerror=...>)
  const where = document.createElement("div");
  where.className = "where";
  where.textContent = listing.path;
  list.appendChild(where);
  const entries = listing.path === "." ? listing.entries : [{ name: "..", dir: true }, ...listing.entries];
  for (const entry of entries) {
    const item = document.createElement("div");
    item.className = entry.dir ? "dir" : "file";
    item.textContent = entry.name + (entry.dir ? "/" : "");
    const target = listing.path === "." ? entry.name : `${listing.path}/${entry.name}`;
    item.addEventListener("click", () => {
      if (entry.name === "..") return openBrowser(input, listing.path.split("/").slice(0, -1).join("/") || ".");
      if (entry.dir && !entry.name.endsWith(".zarr")) return openBrowser(input, target);
      input.value = target; list.remove(); validateSoon();
    });
    list.appendChild(item);
  }
  const use = document.createElement("div");
  use.className = "dir"; use.textContent = "[use this directory]";
  use.addEventListener("click", () => { input.value = listing.path; list.remove(); validateSoon(); });
  list.appendChild(use);
}

// -- axis view ----------------------------------------------------------------------------
function drawOverlay() {
  const { p0, p180, factor, width } = axisData;
  const axis = parseFloat($("axis-slider").value);
  $("axis-value").textContent = axis.toFixed(1);
  const [h, w] = p0.shape;
  const a = decode(p0), b = decode(p180);
  // the 180 degree frame mirrored about the axis: column x shows column 2 * axis - x
  const diff = new Float32Array(h * w);
  // binned column x spans detector pixels x * factor .. (x + 1) * factor - 1 (pixel i centred at i, as the
  // axis is counted): its mirror about the axis is at 2 * axis / factor - x - (factor - 1) / factor
  const shift = 2 * axis / factor - (factor - 1) / factor;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const source = shift - x, left = Math.floor(source), t = source - left;  // linear: sub-pixel axes show
      const other = left >= 0 && left + 1 < w ? (1 - t) * b[y * w + left] + t * b[y * w + left + 1] : 0;
      diff[y * w + x] = a[y * w + x] - other;
    }
  }
  const span = Math.max(Math.abs(p0.max - p0.min), 1e-6) / 2;
  draw($("axis-overlay"), diff, w, h, -span, span);
}

async function computeAxis() {
  $("axis-status").textContent = "computing...";
  try {
    axisData = await api("/api/axis", values());
  } catch (error) {
    $("axis-status").textContent = error.message; return;
  }
  $("axis-status").textContent = `row ${axisData.row}`;
  $("axis-view").hidden = false;
  $("axis-estimate").textContent = axisData.estimate.toFixed(2);
  $("axis-best").textContent = axisData.best.toFixed(2);
  const slider = $("axis-slider");
  slider.min = 0; slider.max = axisData.width; slider.value = axisData.estimate;
  drawOverlay();
  const strip = $("candidates");
  strip.innerHTML = "";
  const bestScore = Math.min(...axisData.candidates.map((c) => c.score));
  for (const c of axisData.candidates) {
    const box = document.createElement("div");
    box.className = "candidate" + (c.score === bestScore ? " best" : "");
    box.dataset.axis = c.axis;
    const canvas = document.createElement("canvas");
    draw(canvas, decode(c.slice), c.slice.shape[1], c.slice.shape[0], c.slice.min, c.slice.max);
    box.appendChild(canvas);
    box.insertAdjacentHTML("beforeend", `<div>${c.axis.toFixed(2)} px</div><div>score ${c.score.toFixed(4)}</div>`);
    box.addEventListener("click", () => useAxis(c.axis));
    strip.appendChild(box);
  }
}

function useAxis(axis) {
  $("field-axis").value = Number(axis).toFixed(2);
  $("axis-slider").value = axis;
  if (axisData) drawOverlay();
  validateSoon();
}

// -- runs and the slice viewer -----------------------------------------------------------
let runEvents = null;  // the event stream of the run the page follows (the newest one started here)

async function startRun() {
  if (!(await validate())) { $("run-state").textContent = "fix the form first"; return; }
  $("run-log").textContent = "";
  contrastByHand = false;  // a new run's slices take their own contrast
  try {
    currentRun = await api("/api/runs", values());
  } catch (error) {
    $("run-state").textContent = error.message; return;
  }
  follow(currentRun);
}

function showRun(state) {
  $("run-progress").value = state.percent;
  const p = state.progress;  // rate and ETA as the run estimates them (ufo.core.progress)
  const pace = p && p.rate > 0 && !p.final ? ` (${p.rate.toFixed(1)} ${p.unit}/s` +
    (p.time_remaining !== null ? `, ${Math.ceil(p.time_remaining)} s left)` : ")") : "";
  $("run-percent").textContent = `${state.percent} % written${pace}`;
  // what the run does now, with its count where the graph reports one: a pass reads every projection
  // and back-projects before its first slice is written, so the written share stays 0 % for long
  const step = state.step || {};
  const counted = step.current !== null && step.current !== undefined && step.target;
  $("run-stage").textContent = step.stage ? step.stage + (counted ? `: ${step.current} / ${step.target} ${step.unit}` : "") : "";
  $("run-stage-progress").hidden = !counted;
  if (counted) $("run-stage-progress").value = 100 * step.current / step.target;
  $("run-state").textContent = state.state + (state.error ? `: ${state.error}` : "");
  $("run-log").textContent = state.log.join("\n");
  const ended = ["done", "failed", "cancelled"].includes(state.state);
  $("run-cancel").disabled = ended;
  return ended;
}

function follow(run) {
  if (runEvents) runEvents.close();  // a second run started here: the page follows that one only
  showRun(run);
  const events = runEvents = new EventSource(`/api/runs/${run.id}/events`);
  events.onmessage = (message) => {
    const state = JSON.parse(message.data);
    if (events !== runEvents || state.id !== currentRun.id) return;
    if (showRun(state)) {
      events.close();
      if (state.state === "done" && $("field-show_images").checked) openSlice(0);
    }
  };
  events.onerror = async () => {  // the server went away or restarted (new token): say so, never spin on
    if (events !== runEvents) return;
    events.close();
    try {
      if (!showRun(await api(`/api/runs/${run.id}`))) setTimeout(() => { if (events === runEvents) follow(run); }, 1000);
    } catch (error) {
      $("run-state").textContent = `lost the server; the run's state is unknown: ${error.message}`;
      $("run-cancel").disabled = true;
    }
  };
}

async function openSlice(index) {
  sliceData = await api(`/api/runs/${currentRun.id}/slices/${index}`);
  $("viewer").hidden = false;
  const slider = $("slice-index");
  slider.max = sliceData.count - 1; slider.value = index;
  // the detector row is what the user asked for (--region) and what the file is named by
  const row = sliceData.row === null || sliceData.row === undefined ? "" : `row ${sliceData.row} `;
  $("slice-label").textContent = `${row}(${index + 1} / ${sliceData.count})`;
  if (contrastByHand && $("slice-min").value !== "" && $("slice-max").value !== "") { drawSlice(); drawHistogram(); }
  else autoContrast();
}

function drawSlice() {
  const [h, w] = sliceData.shape;
  draw($("slice-canvas"), decode(sliceData), w, h, parseFloat($("slice-min").value), parseFloat($("slice-max").value));
}

// the 0.5 and 99.5 % percentiles of the slice (the server's): zingers and edge streaks set min and max
function autoContrast() {
  contrastByHand = false;
  $("slice-min").value = sliceData.low.toPrecision(4);
  $("slice-max").value = sliceData.high.toPrecision(4);
  drawSlice();
  drawHistogram();
}

function drawHistogram() {
  const canvas = $("slice-histogram");
  const context = canvas.getContext("2d");
  context.fillStyle = "#fff"; context.fillRect(0, 0, canvas.width, canvas.height);
  const counts = sliceData.histogram;
  const top = Math.max(...counts, 1);
  const bar = canvas.width / counts.length;
  context.fillStyle = "#4f7cff";
  counts.forEach((c, i) => {
    const height = (Math.log1p(c) / Math.log1p(top)) * canvas.height;
    context.fillRect(i * bar, canvas.height - height, bar - 1, height);
  });
  const [first, last] = sliceData.edges;  // the contrast window over the histogram's value range
  if (last > first) {
    context.fillStyle = "rgba(255, 128, 0, 0.8)";
    for (const id of ["slice-min", "slice-max"]) {
      const x = ((parseFloat($(id).value) - first) / (last - first)) * canvas.width;
      context.fillRect(Math.max(0, Math.min(canvas.width - 2, x)), 0, 2, canvas.height);
    }
  }
}

// -- wiring ------------------------------------------------------------------------------
function showTab(name) {
  for (const button of document.querySelectorAll("nav button")) button.classList.toggle("active", button.dataset.tab === name);
  for (const tab of document.querySelectorAll(".tab")) tab.classList.toggle("active", tab.id === name);
}

async function main() {
  // tabs work at once: a click while the schema is still loading must not be lost
  for (const button of document.querySelectorAll("nav button")) button.addEventListener("click", () => showTab(button.dataset.tab));
  buildForm(await api("/api/schema"));
  $("save").addEventListener("click", async () => {
    const body = { path: $("config-path").value, values: values() };
    try {
      let result;
      try {
        result = await api("/api/config/save", body);
      } catch (error) {
        // an existing file is replaced only when the user says so
        if (!/exists/.test(error.message) || !window.confirm(`${error.message}\n\nReplace it?`)) throw error;
        result = await api("/api/config/save", { ...body, overwrite: true });
      }
      $("form-status").textContent = `saved ${result.path}`;
    } catch (error) { $("form-status").textContent = error.message; }
  });
  $("load").addEventListener("click", async () => {
    try {
      const result = await api("/api/config/load", { path: $("config-path").value });
      setValues(result.values);
      $("form-status").textContent = "loaded";
    } catch (error) { $("form-status").textContent = error.message; }
  });
  $("axis-compute").addEventListener("click", computeAxis);
  $("axis-slider").addEventListener("input", drawOverlay);
  $("axis-use").addEventListener("click", () => useAxis($("axis-slider").value));
  $("run-start").addEventListener("click", startRun);
  $("run-cancel").addEventListener("click", () => api(`/api/runs/${currentRun.id}/cancel`, {})
    .catch((error) => { $("run-state").textContent = `cancel failed: ${error.message}`; }));
  $("slice-index").addEventListener("input", (e) => openSlice(parseInt(e.target.value, 10)));
  for (const id of ["slice-min", "slice-max"]) {
    $(id).addEventListener("change", () => { contrastByHand = true; drawSlice(); drawHistogram(); });
  }
  $("slice-auto").addEventListener("click", autoContrast);
  validateSoon();
  // a reloaded page or a second tab follows the newest run still going (it can be cancelled from here)
  const going = (await api("/api/runs")).runs.filter((r) => !["done", "failed", "cancelled"].includes(r.state)).pop();
  if (going) { currentRun = going; follow(going); }
}
main();
