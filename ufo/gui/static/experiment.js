// The experiment view: a session's running experiment, from /api/experiments (server-sent events of
// ufo.control.progress.ScanProgress). Uses $, api, decode and draw of app.js.
"use strict";
const experiment = { source: null, name: null, seen: -1, busy: false, sliceAt: 0, history: [] };
window.expHistory = experiment.history; // every overall percent shown, in order (the tests read it)

function clock(seconds) {
  if (seconds === null || seconds === undefined) return "--:--";
  const s = Math.round(seconds);
  return `${Math.floor(s / 3600)}:${String(Math.floor(s % 3600 / 60)).padStart(2, "0")}:${String(s % 60).padStart(2, "0")}`;
}

function rateText(p) { return `${p.rate.toFixed(1)} ${p.unit}/s, ETA ${clock(p.time_remaining)}`; }

async function expShowFrame() {
  if (experiment.busy) return;
  experiment.busy = true;
  try {
    const image = await api(`/api/experiments/${encodeURIComponent(experiment.name)}/frame`);
    const canvas = $("exp-frame");
    draw(canvas, decode(image), image.shape[1], image.shape[0], image.min, image.max);
    canvas.dataset.index = image.meta.index;
    if (image.meta.frame_number !== undefined) canvas.dataset.frame = image.meta.frame_number;
    const angle = image.meta.angle !== undefined ? `, ${(image.meta.angle * 180 / Math.PI).toFixed(2)}°` : "";
    $("exp-frame-label").textContent = `live frame: ${image.meta.acquisition} #${image.meta.index}${angle}`;
  } catch (error) { /* no frame yet */ } finally { experiment.busy = false; }
}

async function expShowSlice() {
  try {
    const image = await api(`/api/experiments/${encodeURIComponent(experiment.name)}/slices`);
    draw($("exp-slice"), decode(image), image.shape[1], image.shape[0], image.min, image.max);
    $("exp-slice-label").textContent = `latest slice ${image.index + 1} / ${image.count}`;
  } catch (error) { $("exp-slice-label").textContent = "no slices: no online reconstruction (yet)"; }
}

function expShow(update) {
  const overall = update.overall;
  $("exp-state").textContent = overall.stage;
  $("exp-run").textContent = `${update.scan || ""} ${update.run_id || ""}`;
  $("exp-progress").value = overall.percent;
  $("exp-percent").textContent = `${Math.round(overall.percent)} %`;
  experiment.history.push(overall.percent);
  const angle = update.angle === null ? "" : `, angle ${update.angle.toFixed(2)}°`;
  const dropped = update.dropped ? `, ${update.dropped} dropped` : "";
  $("exp-detail").textContent = `${overall.current} / ${overall.target ?? "?"} frames, ${rateText(overall)}${angle}${dropped}`;
  const box = $("exp-acquisitions");
  for (const [name, p] of Object.entries(update.acquisitions)) {
    let row = box.querySelector(`[data-name="${name}"]`);
    if (!row) {
      row = document.createElement("div");
      row.className = "acquisition"; row.dataset.name = name;
      row.innerHTML = "<span></span><progress max='100'></progress><span></span>";
      box.appendChild(row);
    }
    row.children[0].textContent = name;
    row.children[1].value = p.percent;
    row.children[2].textContent = `${p.current} / ${p.target ?? "?"} [${p.stage}] ${rateText(p)}`;
  }
  if (update.frames_seen !== experiment.seen) { experiment.seen = update.frames_seen; expShowFrame(); }
  if (update.final || Date.now() - experiment.sliceAt > 1000) { experiment.sliceAt = Date.now(); expShowSlice(); }
}

function expFollow(name) {
  if (experiment.source) experiment.source.close();
  experiment.name = name; experiment.seen = -1;
  $("exp-acquisitions").textContent = "";
  experiment.source = new EventSource(`/api/experiments/${encodeURIComponent(name)}/events`);
  experiment.source.onopen = () => { $("exp-state").dataset.following = name; };
  experiment.source.onmessage = (event) => expShow(JSON.parse(event.data));
}

async function expList() {
  const list = (await api("/api/experiments")).experiments;
  const select = $("exp-select");
  select.textContent = "";
  for (const item of list) select.add(new Option(item.name, item.name));
  if (!list.length) {
    $("exp-state").textContent = "no experiment: show one from a session (ufo.gui.serve, Board.show)";
    return;
  }
  expFollow(select.value);
}

$("exp-select").addEventListener("change", (e) => expFollow(e.target.value));
$("tab-experiment").addEventListener("click", () => { if (!experiment.source) expList(); });
