// The headstart web app (served by `headstart serve`): Preact + htm + signals, no build step.
// Pages: runs (list, one run, two side by side), train (start a run, watch it live), try (the
// model runs in this browser with onnxruntime-web; nothing is uploaded).
import { h, render } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { signal } from '@preact/signals';
import htm from 'htm';

const html = htm.bind(h);

const route = signal(location.hash.slice(1) || '/runs');
addEventListener('hashchange', () => {
  route.value = location.hash.slice(1) || '/runs';
});
const info = signal(null);

async function api(path, options) {
  const r = await fetch(path, options);
  const type = r.headers.get('content-type') || '';
  const body = type.includes('json') ? await r.json() : await r.text();
  if (!r.ok) throw Object.assign(new Error(body.message || String(body)), typeof body === 'object' ? body : {});
  return body;
}
const post = (path, body) => api(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body ?? {}) });

const pct = (v, digits = 1) => (v === null || v === undefined ? '–' : `${(v * 100).toFixed(digits)}%`);
function duration(s) {
  if (s === null || s === undefined || !Number.isFinite(s)) return '–';
  if (s < 60) return `${s.toFixed(s < 10 ? 1 : 0)} s`;
  const m = Math.floor(s / 60);
  return m < 60 ? `${m} min ${String(Math.round(s % 60)).padStart(2, '0')} s` : `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, '0')} min`;
}
const enc = (name) => encodeURIComponent(name);

function ErrorBox({ error }) {
  if (!error) return null;
  return html`<div class="error" role="alert"><strong>${error.error || 'error'}</strong> ${error.message}${error.hint ? html`<div class="hint">${error.hint}</div>` : null}</div>`;
}

function Nav() {
  const r = route.value;
  const item = (href, label) => html`<a href="#${href}" class=${r.startsWith(href) ? 'active' : ''}>${label}</a>`;
  return html`<header>
    <a class="brand" href="#/runs">headstart</a>
    <nav>${item('/runs', 'Runs')}${item('/train', 'Train')}${item('/try', 'Try it')}${item('/review', 'Review data')}</nav>
    <span class="where">${info.value ? `runs: ${info.value.runsDir}` : ''}</span>
  </header>`;
}

// ---------- Runs ----------

function accuracyText(run) {
  if (run.bestValAcc === null) return '–';
  const iv = run.interval ? ` (${pct(run.interval[0], 0)}–${pct(run.interval[1], 0)})` : '';
  return `${pct(run.bestValAcc)}${iv}`;
}

function RunsPage() {
  const [runs, setRuns] = useState(null);
  const [error, setError] = useState(null);
  const [picked, setPicked] = useState([]);
  useEffect(() => {
    api('/api/runs').then(setRuns, setError);
  }, []);
  if (error) return html`<${ErrorBox} error=${error} />`;
  if (!runs) return html`<p class="muted">Loading runs…</p>`;
  const toggle = (name) => setPicked((p) => (p.includes(name) ? p.filter((x) => x !== name) : [...p, name].slice(-2)));
  return html`<section>
    <h1>Runs</h1>
    ${
      runs.length === 0
        ? html`<div class="empty">
            <p>No runs in <code>${info.value?.runsDir}</code> yet.</p>
            <p><a class="button" href="#/train">Train a model</a> or run <code>headstart train DATA --out ${info.value?.runsDir}/NAME</code> in a terminal.</p>
          </div>`
        : html`<table class="runs">
              <thead>
                <tr>
                  <th></th>
                  <th>run</th>
                  <th>model</th>
                  <th>mode</th>
                  <th>status</th>
                  <th>best val accuracy (95% CI)</th>
                  <th>epochs</th>
                  <th>time</th>
                </tr>
              </thead>
              <tbody>
                ${runs.map(
                  (r) =>
                    html`<tr data-run=${r.name}>
                      <td><input type="checkbox" title="compare" checked=${picked.includes(r.name)} onChange=${() => toggle(r.name)} /></td>
                      <td><a href="#/runs/${enc(r.name)}">${r.name}</a></td>
                      <td>${r.model ?? '–'}</td>
                      <td>${r.mode ?? '–'}</td>
                      <td><span class="status ${r.status}">${r.status}</span></td>
                      <td class="num">${accuracyText(r)}</td>
                      <td class="num">${r.epochs}${r.epochsPlanned ? ` / ${r.epochsPlanned}` : ''}</td>
                      <td class="num">${duration(r.seconds)}</td>
                    </tr>`,
                )}
              </tbody>
            </table>
            <p>
              <a class=${`button ${picked.length === 2 ? '' : 'disabled'}`} href=${picked.length === 2 ? `#/compare/${enc(picked[0])}/${enc(picked[1])}` : undefined}>Compare the two ticked runs</a>
              <span class="muted"> tick two runs to see them side by side</span>
            </p>`
    }
  </section>`;
}

function RunDetail({ name, compact }) {
  const [run, setRun] = useState(null);
  const [error, setError] = useState(null);
  useEffect(() => {
    setRun(null);
    api(`/api/runs/${enc(name)}`).then(setRun, setError);
  }, [name]);
  if (error) return html`<${ErrorBox} error=${error} />`;
  if (!run) return html`<p class="muted">Loading ${name}…</p>`;
  const has = (f) => run.files.includes(f);
  return html`<section class="run" data-run=${name}>
    <h2>${name}</h2>
    <dl class="cards">
      <div>
        <dt>model</dt>
        <dd>${run.model ?? '–'}</dd>
      </div>
      <div>
        <dt>mode</dt>
        <dd>${run.mode ?? '–'}</dd>
      </div>
      <div>
        <dt>best val accuracy</dt>
        <dd class="best-acc" data-value=${run.bestValAcc}>${accuracyText(run)}</dd>
      </div>
      <div>
        <dt>best epoch</dt>
        <dd>${run.bestEpoch ?? '–'} of ${run.epochs}</dd>
      </div>
      <div>
        <dt>val images</dt>
        <dd>${run.valImages ?? '–'}</dd>
      </div>
      <div>
        <dt>time</dt>
        <dd>${duration(run.seconds)}</dd>
      </div>
      <div>
        <dt>status</dt>
        <dd><span class="status ${run.status}">${run.status}</span></dd>
      </div>
    </dl>
    <p class="actions">
      ${has('model.onnx') ? html`<a class="button" href="#/try/${enc(name)}">Try this model</a>` : null}
      ${run.status === 'running' || run.status === 'incomplete' ? html`<a class="button" href="#/live/${enc(name)}">Watch live</a>` : null}
      ${has('report.html') ? html`<a href="/files/runs/${enc(name)}/report.html" target="_blank" rel="noopener">full report</a>` : null}
      ${info.value?.dataDir && run.mode === 'features' ? html`<a class="button secondary" href="#/review/${enc(name)}">Review the data with this run</a>` : null}
    </p>
    <div class=${compact ? 'figures stacked' : 'figures'}>
      <figure><img class="curves" alt="loss and accuracy curves" src="/api/runs/${enc(name)}/curves.svg?e=${run.epochs}" /></figure>
      ${has('confusion.svg') ? html`<figure><img class="confusion" alt="confusion matrix" src="/files/runs/${enc(name)}/confusion.svg" /></figure>` : null}
    </div>
  </section>`;
}

// ---------- Train (start a run, watch it live) ----------

/** A form row: its name, the control, and a line saying what it does. */
function Field({ label, hint, children }) {
  return html`<label class="field"><span class="name">${label}</span><span class="control">${children}${hint ? html`<small class="hint">${hint}</small>` : null}</span></label>`;
}

function TrainPage() {
  const i = info.value;
  const [form, setForm] = useState(null);
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const [runs, setRuns] = useState([]);
  useEffect(() => {
    if (i && !form)
      setForm({
        data: i.defaultData,
        model: i.models.includes('mobilenet_v2_offline') ? 'mobilenet_v2_offline' : i.models[0],
        mode: 'features',
        recipe: i.defaultRecipe ?? i.recipes[0],
        epochs: 5,
        seed: 0,
        inputSize: '',
      });
    api('/api/runs').then(
      (r) => setRuns(r.filter((x) => x.status === 'running' || x.status === 'incomplete')),
      () => {},
    );
  }, [i]);
  if (!form) return html`<p class="muted">Loading…</p>`;
  const set = (k) => (e) => setForm({ ...form, [k]: e.target.value });
  const start = async (e) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const body = { data: form.data, model: form.model, mode: form.mode, recipe: form.recipe, epochs: Number(form.epochs), seed: Number(form.seed) };
      if (form.inputSize !== '') body.inputSize = Number(form.inputSize);
      const { name } = await post('/api/runs', body);
      location.hash = `/live/${enc(name)}`;
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return html`<section>
    <h1>Train a model</h1>
    <form class="train" onSubmit=${start}>
      <${Field}
        label="data folder"
        hint=${html`<code>${'train/<class>/'}</code> image folders (and <code>val/</code>, else 20% of train is held out)${i.dataDir ? '' : '; the default is the small embedded Fashion-MNIST sample'}`}
      >
        <input name="data" value=${form.data} onInput=${set('data')} class="wide" />
      <//>
      <${Field} label="model" hint="the pretrained backbone; mobilenet_v2_offline works without a download">
        <select name="model" value=${form.model} onChange=${set('model')}>
          ${i.models.map((m) => html`<option value=${m}>${m}</option>`)}
        </select>
      <//>
      <${Field} label="mode" hint="features: the backbone's features are cached once, then each epoch takes a moment">
        <select name="mode" value=${form.mode} onChange=${set('mode')}>
          <option value="features">features (train a new head on frozen features: seconds)</option>
          <option value="finetune">finetune (train the whole network: slower, usually better)</option>
          <option value="auto">auto (headstart decides)</option>
        </select>
      <//>
      <${Field} label="recipe" hint="learning rate, schedule and augmentation presets (the CLI's --recipe)">
        <select name="recipe" value=${form.recipe} onChange=${set('recipe')}>
          ${i.recipes.map((m) => html`<option value=${m}>${m}</option>`)}
        </select>
      <//>
      <${Field} label="epochs" hint="passes over the training images">
        <input name="epochs" type="number" min="1" max="1000" value=${form.epochs} onInput=${set('epochs')} />
      <//>
      <${Field} label="seed" hint="the same seed and data give the same run as the CLI">
        <input name="seed" type="number" min="0" value=${form.seed} onInput=${set('seed')} />
      <//>
      <${Field} label="input size" hint="pixels per side; empty: the model's own (224 for the ImageNet models)">
        <input name="inputSize" type="number" min="8" max="1024" placeholder="default" value=${form.inputSize} onInput=${set('inputSize')} />
      <//>
      <div class="submit">
        <button type="submit" disabled=${busy}>${busy ? 'Starting…' : 'Start training'}</button>
        <span class="muted">The run gets its own folder in <code>${i.runsDir}</code>; you can watch it live and stop it.</span>
      </div>
    </form>
    <${ErrorBox} error=${error} />
    ${
      runs.length
        ? html`<h2>Runs that may be under way</h2>
            <ul>
              ${runs.map((r) => html`<li><a href="#/live/${enc(r.name)}">${r.name}</a> <span class="status ${r.status}">${r.status}</span></li>`)}
            </ul>`
        : null
    }
    <p class="muted">A run started in a terminal (<code>headstart train … --out ${i.runsDir}/NAME</code>) shows up in Runs; open it and press “Watch live”.</p>
  </section>`;
}

function LivePage({ name }) {
  const [s, setS] = useState({ start: null, epochs: [], phase: null, batch: null, done: null, interrupted: null, job: null, logs: [] });
  const [stopping, setStopping] = useState(false);
  const [error, setError] = useState(null);
  const t0 = useRef(null);
  useEffect(() => {
    const es = new EventSource(`/api/runs/${enc(name)}/events`);
    es.addEventListener('train', (m) => {
      const e = JSON.parse(m.data);
      // A run of another process ends with done or interrupted; one started here also gets a `job` event.
      if ((e.event === 'done' || e.event === 'interrupted') && !s.job) setTimeout(() => es.close(), 1500);
      setS((p) => {
        switch (e.event) {
          case 'run_start':
            t0.current = performance.now();
            return { ...p, start: e };
          case 'log':
            return { ...p, logs: [...p.logs, e].slice(-6) };
          case 'phase_start':
            return { ...p, phase: { ...e, t: performance.now() }, batch: null };
          case 'batch_end':
            return { ...p, batch: { ...e, t: performance.now() } };
          case 'epoch':
            return { ...p, epochs: [...p.epochs.filter((x) => x.epoch !== e.epoch), e] };
          case 'done':
            return { ...p, done: e };
          case 'interrupted':
            return { ...p, interrupted: e };
          default:
            return p;
        }
      });
    });
    es.addEventListener('job', (m) => {
      setS((p) => ({ ...p, job: JSON.parse(m.data) }));
      es.close();
    });
    return () => es.close();
  }, [name]);
  const last = s.epochs.at(-1);
  const total = s.start?.epochs ?? null;
  const finished = s.done || s.interrupted || (s.job && s.job.state !== 'running');
  // Progress: finished epochs plus the share of the current phase's batches.
  let progress = 0;
  let speed = null;
  let eta = null;
  if (total) {
    const within = s.batch && s.batch.epoch ? s.batch.batch / s.batch.batches : 0;
    progress = s.done ? 1 : Math.min(1, ((last?.epoch ?? 0) + (s.batch?.phase === 'train' ? within * 0.9 : s.batch?.phase === 'val' ? 0.9 + within * 0.1 : 0)) / total);
    // Events arrive in bursts: measure over at least a second of a phase, else show the last epoch's throughput.
    if (!finished && s.batch && s.phase && s.batch.phase === s.phase.phase && s.batch.t - s.phase.t > 1000) speed = s.batch.images / ((s.batch.t - s.phase.t) / 1000);
    else if (last) speed = last.images_per_s;
    const elapsed = t0.current ? (performance.now() - t0.current) / 1000 : null;
    if (elapsed && progress > 0.02 && !finished) eta = (elapsed * (1 - progress)) / progress;
  }
  // Feature-extraction epochs read rows from the feature cache: their rate is not a backbone's images/s.
  const speedUnit = s.start?.mode === 'features' && s.batch?.phase !== 'extract' ? 'cached feature rows/s' : 'images/s';
  const stop = async () => {
    setStopping(true);
    try {
      await post(`/api/runs/${enc(name)}/stop`);
    } catch (err) {
      setError(err);
    }
  };
  return html`<section class="live" data-run=${name}>
    <h1>Training <code>${name}</code></h1>
    ${s.start ? html`<p>${s.start.model}, ${s.start.mode}, ${s.start.classes.length} classes (${s.start.classes.join(', ')}), ${s.start.train_images} train / ${s.start.val_images} val images, ${s.start.threads} threads</p>` : html`<p class="muted">Waiting for the run to start (loading data and weights)…</p>`}
    <div class="progress" role="progressbar" aria-valuenow=${Math.round(progress * 100)}><div style=${{ width: `${(progress * 100).toFixed(1)}%` }}></div></div>
    <p class="stats">
      <span>epoch <b class="epoch-now">${last?.epoch ?? 0}</b> of ${total ?? '?'}</span>
      ${s.batch && !finished ? html`<span>${s.batch.phase === 'extract' ? 'extracting features' : s.batch.phase} batch ${s.batch.batch}/${s.batch.batches}</span>` : null}
      <span>${speed ? `${speed.toFixed(0)} ${speedUnit}` : ''}</span>
      <span>${eta !== null ? `ETA ${duration(eta)}` : ''}</span>
    </p>
    ${!finished ? html`<button class="stop" onClick=${stop} disabled=${stopping}>${stopping ? 'Stopping after this batch…' : 'Stop'}</button>` : null}
    <${ErrorBox} error=${error} />
    ${s.done ? html`<p class="done" data-best=${s.done.best_val_acc}>Finished: best val accuracy <b>${pct(s.done.best_val_acc, 2)}</b> at epoch ${s.done.best_epoch} in ${duration(s.done.seconds)}. <a href="#/runs/${enc(name)}">See the run</a> · <a href="#/try/${enc(name)}">Try the model</a></p>` : null}
    ${s.interrupted ? html`<p class="interrupted">Stopped at epoch ${s.interrupted.epoch}. ${s.interrupted.checkpoint ? html`Checkpoint kept: <code>${s.interrupted.checkpoint}</code>; go on with <code>headstart train --resume ${s.interrupted.checkpoint}</code>` : 'No epoch had finished: nothing to resume.'}</p>` : null}
    ${s.job?.state === 'failed' ? html`<${ErrorBox} error=${s.job.error} />` : null}
    ${
      s.logs.length
        ? html`<ul class="logs">
            ${s.logs.map((l) => html`<li class=${l.level}>${l.message}</li>`)}
          </ul>`
        : null
    }
    <div class="figures">
      <figure><img class="curves" alt="live loss and accuracy curves" src="/api/runs/${enc(name)}/curves.svg?e=${s.epochs.length}" /></figure>
      <table class="epochs">
        <thead>
          <tr>
            <th>epoch</th>
            <th>train loss</th>
            <th>train acc</th>
            <th>val loss</th>
            <th>val acc</th>
            <th>images/s</th>
            <th>time</th>
          </tr>
        </thead>
        <tbody>
          ${s.epochs.map(
            (e) =>
              html`<tr class="epoch-row" data-epoch=${e.epoch}>
                <td>${e.epoch}${e.is_best ? ' ★' : ''}</td>
                <td>${e.train_loss.toFixed(4)}</td>
                <td>${pct(e.train_acc)}</td>
                <td>${e.val_loss.toFixed(4)}</td>
                <td class="val-acc" data-value=${e.val_acc}>${pct(e.val_acc)}</td>
                <td>${e.images_per_s.toFixed(0)}</td>
                <td>${duration(e.seconds)}</td>
              </tr>`,
          )}
        </tbody>
      </table>
    </div>
  </section>`;
}

// ---------- Try it (the model runs in this browser) ----------

// Served by headstart serve: onnxruntime-web from node_modules, the bundle of src/serve/web-core.ts from dist/web.
const ORT_MODULE = '/ort/ort.wasm.min.mjs';
// onnxruntime-web's WebGPU build (it carries the wasm backend too), used where the browser offers an adapter.
const ORT_WEBGPU_MODULE = '/ort/ort.webgpu.min.mjs';
const CORE_MODULE = '/core/core.js';
let ortPromise = null;
async function hasWebGpu() {
  try {
    return Boolean(navigator.gpu && (await navigator.gpu.requestAdapter()));
  } catch {
    return false;
  }
}
function loadOrt() {
  ortPromise ??= hasWebGpu().then(async (gpu) => {
    const ort = await import(gpu ? ORT_WEBGPU_MODULE : ORT_MODULE);
    ort.env.wasm.wasmPaths = '/ort/';
    ort.env.wasm.numThreads = 1;
    ort.env.wasm.proxy = false;
    return { ort, gpu };
  });
  return ortPromise;
}
let corePromise = null;
const loadCore = () => (corePromise ??= import(CORE_MODULE));

async function loadModel(bytes, source) {
  const [{ ort, gpu }, core] = await Promise.all([loadOrt(), loadCore()]);
  const meta = core.readModelMetadata(bytes, source);
  let session = null;
  let backend = 'WebAssembly';
  if (gpu) {
    try {
      session = await ort.InferenceSession.create(bytes, { executionProviders: ['webgpu'] });
      backend = 'WebGPU';
    } catch {
      session = null; // an op WebGPU lacks, or a lost device: the same model on wasm
    }
  }
  session ??= await ort.InferenceSession.create(bytes, { executionProviders: ['wasm'] });
  return { ort, core, meta, session, source, backend };
}

async function pixelsOf(source) {
  const bitmap = await createImageBitmap(source, { colorSpaceConversion: 'none', premultiplyAlpha: 'none' });
  const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
  const ctx = canvas.getContext('2d', { colorSpace: 'srgb' });
  ctx.drawImage(bitmap, 0, 0);
  const data = ctx.getImageData(0, 0, bitmap.width, bitmap.height).data;
  return { data, width: bitmap.width, height: bitmap.height };
}

async function classify(model, source) {
  const { data, width, height } = await pixelsOf(source);
  const p = model.meta.preprocess;
  const x = model.core.preprocessRgba(data, width, height, p);
  const input = new model.ort.Tensor('float32', x, [1, 3, p.inputSize, p.inputSize]);
  const outputs = await model.session.run({ [model.session.inputNames[0]]: input });
  const logitsName = model.session.outputNames.includes('logits') ? 'logits' : model.session.outputNames[0];
  // A calibrated model has a `probabilities` output (softmax of logits / T): the probabilities predict reports.
  const probs = model.session.outputNames.includes('probabilities') ? Array.from(outputs.probabilities.data, Number) : model.core.softmaxRow(outputs[logitsName].data);
  const ranked = probs.map((prob, i) => ({ label: model.meta.classes[i], prob })).sort((a, b) => b.prob - a.prob);
  // A model with a rejection threshold (a boolean `unknown` output, and its score) says when an image is none of its classes.
  let unknown = null;
  if (model.session.outputNames.includes('unknown')) {
    const scoreName = model.session.outputNames.find((n) => n !== 'unknown' && n !== logitsName && n !== 'probabilities' && /score/.test(n));
    unknown = { flag: Boolean(outputs.unknown.data[0]), score: scoreName ? Number(outputs[scoreName].data[0]) : null };
  }
  return { ranked, unknown, width, height };
}

function TryPage({ name }) {
  const [runs, setRuns] = useState([]);
  const [model, setModel] = useState(null);
  const [status, setStatus] = useState('');
  const [error, setError] = useState(null);
  const [results, setResults] = useState([]);
  const [over, setOver] = useState(false);
  const [camera, setCamera] = useState(null);
  const video = useRef(null);
  useEffect(() => {
    api('/api/runs').then((r) => setRuns(r.filter((x) => x.files.includes('model.onnx'))), setError);
  }, []);
  useEffect(() => {
    if (!name) return;
    setStatus(`Loading ${name}/model.onnx…`);
    setError(null);
    setModel(null);
    fetch(`/files/runs/${enc(name)}/model.onnx`)
      .then((r) => (r.ok ? r.arrayBuffer() : r.json().then((b) => Promise.reject(b))))
      .then((buf) => loadModel(new Uint8Array(buf), `${name}/model.onnx`))
      .then((m) => {
        setModel(m);
        setStatus('');
      })
      .catch((err) => {
        setError(err);
        setStatus('');
      });
  }, [name]);
  useEffect(() => () => camera?.getTracks().forEach((t) => t.stop()), [camera]);
  const openLocal = async (e) => {
    const file = e.target.files[0];
    if (!file) return;
    try {
      setStatus(`Loading ${file.name}…`);
      setModel(await loadModel(new Uint8Array(await file.arrayBuffer()), file.name));
      setStatus('');
    } catch (err) {
      setError(err);
      setStatus('');
    }
  };
  const addImages = async (files) => {
    if (!model) return;
    setError(null);
    for (const f of files) {
      try {
        const r = await classify(model, f);
        setResults((prev) => [{ name: f.name, url: URL.createObjectURL(f), ...r }, ...prev].slice(0, 24));
      } catch (err) {
        setResults((prev) => [{ name: f.name, error: err.message }, ...prev]);
      }
    }
  };
  const startCamera = async () => {
    try {
      const stream = await navigator.mediaDevices.getUserMedia({ video: true });
      setCamera(stream);
      requestAnimationFrame(() => {
        if (video.current) video.current.srcObject = stream;
      });
    } catch (err) {
      setError({ error: 'webcam', message: `the webcam could not be opened: ${err.message}` });
    }
  };
  const capture = async () => {
    const v = video.current;
    const c = new OffscreenCanvas(v.videoWidth, v.videoHeight);
    c.getContext('2d').drawImage(v, 0, 0);
    const blob = await c.convertToBlob({ type: 'image/png' });
    await addImages([new File([blob], `webcam-${new Date().toLocaleTimeString()}.png`, { type: 'image/png' })]);
  };
  const k = model ? Math.min(5, model.meta.classes.length) : 0;
  return html`<section class="try">
    <h1>Try a model</h1>
    <p class="muted">
      The model runs in this browser (onnxruntime-web, <span class="backend">${model ? model.backend : 'WebGPU where the browser offers it, else WebAssembly'}</span>). Images never leave your
      computer.
    </p>
    <p class="pick">
      <label
        >run
        <select onChange=${(e) => (location.hash = `/try/${enc(e.target.value)}`)} value=${name || ''}>
          <option value="" disabled>choose a run…</option>
          ${runs.map((r) => html`<option value=${r.name}>${r.name} (${pct(r.bestValAcc)})</option>`)}
        </select></label
      >
      <span>or a model file <input type="file" accept=".onnx" onChange=${openLocal} /></span>
    </p>
    ${status ? html`<p class="muted">${status}</p>` : null}
    <${ErrorBox} error=${error} />
    ${
      model
        ? html`<p class="model-info" data-classes=${model.meta.classes.join(',')}>
              <b>${model.meta.model}</b> (${model.meta.mode}), ${model.meta.classes.length} classes: ${model.meta.classes.join(', ')}; input ${model.meta.preprocess.inputSize}px
              ${model.meta.bestValAcc !== undefined ? html`; val accuracy ${pct(model.meta.bestValAcc)}` : null}
              ${model.session.outputNames.includes('unknown') ? '; says “unknown” for images unlike its classes' : ''}
            </p>
            <div
              class=${`drop ${over ? 'over' : ''}`}
              onDragOver=${(e) => {
                e.preventDefault();
                setOver(true);
              }}
              onDragLeave=${() => setOver(false)}
              onDrop=${(e) => {
                e.preventDefault();
                setOver(false);
                addImages([...e.dataTransfer.files]);
              }}
            >
              Drop images here, or <label class="button">pick files<input class="images" type="file" accept="image/*" multiple hidden onChange=${(e) => addImages([...e.target.files])} /></label>
              ${camera ? html`<button onClick=${capture}>Capture</button>` : html`<button onClick=${startCamera}>Use the webcam</button>`}
            </div>
            ${camera ? html`<video ref=${video} autoplay playsinline muted class="camera"></video>` : null}
            <div class="results">
              ${results.map((r) =>
                r.error
                  ? html`<div class="result failed"><b>${r.name}</b>: ${r.error}</div>`
                  : html`<div class="result" data-name=${r.name} data-label=${r.ranked[0].label} data-prob=${r.ranked[0].prob}>
                      <img src=${r.url} alt=${r.name} />
                      <div class="bars">
                        <div class="name">${r.name}</div>
                        ${r.unknown?.flag ? html`<div class="unknown">unknown: unlike every class${r.unknown.score !== null ? ` (score ${r.unknown.score.toFixed(3)})` : ''}</div>` : null}
                        ${r.ranked.slice(0, k).map(
                          (c, i) =>
                            html`<div class=${`bar ${i === 0 && !r.unknown?.flag ? 'top' : ''}`}>
                              <span class="label">${c.label}</span><span class="track"><span style=${{ width: `${(c.prob * 100).toFixed(1)}%` }}></span></span><span class="p">${pct(c.prob)}</span>
                            </div>`,
                        )}
                      </div>
                    </div>`,
              )}
            </div>`
        : null
    }
  </section>`;
}

// ---------- Review the data ----------

const fileUrl = (path) => `/files/data/${path.split('/').map(enc).join('/')}`;

const findingKey = (f) => `${f.kind}\n${[...f.paths].sort().join('\n')}`;

/** The doctor's duplicates and train/val leakage, each with Remove per image and "mark fine" for the finding. */
function FindingsPanel({ version, removed, act, busy }) {
  const [state, setState] = useState(null);
  const [error, setError] = useState(null);
  const [marked, setMarked] = useState(new Set());
  useEffect(() => {
    setError(null);
    api('/api/data/findings').then(setState, setError);
  }, [version]);
  if (error) return html`<${ErrorBox} error=${error} />`;
  if (!state)
    return html`<section class="findings">
      <h2>Duplicates and train/val leakage</h2>
      <p class="muted">The doctor is checking every image…</p>
    </section>`;
  const markFine = async (f) => {
    const change = await act('/api/data/fine-finding', { about: f.kind, paths: f.paths });
    // Kept apart from the fetched findings: a fetch under way (after an undo) may not know this change yet.
    if (change) setMarked((m) => new Set([...m, findingKey(f)]));
  };
  const open = state.findings.filter((f) => !f.fine && !marked.has(findingKey(f)) && f.paths.filter((p) => !removed.has(p)).length > 1);
  const settled = state.findings.length - open.length;
  return html`<section class="findings">
    <h2>Duplicates and train/val leakage <span class="count">${open.length}</span></h2>
    <p class="muted">
      From <code>headstart doctor</code> (identical file contents; ${state.images} images checked in ${duration(state.seconds)}). A leak puts a training image into validation, so val accuracy is too
      optimistic: remove one copy, or mark the finding as fine.${settled ? ` ${settled} settled (removed or marked fine).` : ''}
    </p>
    ${state.findings.length === 0 ? html`<p class="ok">No duplicates and no image in two splits.</p>` : null}
    ${open.map(
      (f) =>
        html`<div class=${`finding ${f.kind}`} data-kind=${f.kind}>
          <div><span class=${`tag ${f.kind}`}>${f.kind === 'leak' ? 'train/val leak' : 'duplicate'}</span> ${f.paths.length} identical files</div>
          <div class="finding-images">
            ${f.paths
              .filter((p) => !removed.has(p))
              .map(
                (p) =>
                  html`<div class="finding-image" data-path=${p}>
                    <img src=${fileUrl(p)} alt=${p} />
                    <div class="path" title=${p}>${p}</div>
                    <button class="remove" disabled=${busy} onClick=${() => act('/api/data/remove', { path: p })}>Remove</button>
                  </div>`,
              )}
          </div>
          <button class="fine secondary" disabled=${busy} onClick=${() => markFine(f)}>Mark fine</button>
        </div>`,
    )}
  </section>`;
}

/** "Retrain head": a quick linear head on the run's cached features, before and after the changes, beside the run's accuracy. */
function RetrainPanel({ run, changes }) {
  const [result, setResult] = useState(null);
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  useEffect(() => setResult(null), [run]);
  const retrain = async () => {
    setBusy(true);
    setError(null);
    try {
      setResult(await post('/api/data/retrain-head', { run }));
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  const delta = result ? result.after.valAcc - result.before.valAcc : 0;
  return html`<div class="retrain">
    <h2>Retrain head</h2>
    <p class="muted">Trains a linear head on ${run}’s cached features in seconds, with the labels as they are now and as they were (${changes} change${changes === 1 ? '' : 's'} logged).</p>
    <button class="retrain-head" disabled=${busy} onClick=${retrain}>${busy ? 'Training…' : 'Retrain head'}</button>
    <${ErrorBox} error=${error} />
    ${
      result
        ? html`<table class="retrain-result" data-before=${result.before.valAcc} data-after=${result.after.valAcc} data-run-acc=${result.runValAcc}>
            <tr>
              <th>val accuracy</th>
              <th></th>
            </tr>
            <tr>
              <td>the run (its recipe)</td>
              <td class="num run-acc">${pct(result.runValAcc)}</td>
            </tr>
            <tr>
              <td>quick head, labels as trained</td>
              <td class="num before">${pct(result.before.valAcc)}</td>
            </tr>
            <tr>
              <td>quick head, labels now</td>
              <td class="num after">
                <b>${pct(result.after.valAcc)}</b>
                <span class=${delta > 0 ? 'up' : delta < 0 ? 'down' : 'muted'}>${delta === 0 ? '±0' : `${delta > 0 ? '+' : '−'}${(Math.abs(delta) * 100).toFixed(1)} pts`}</span>
              </td>
            </tr>
            <tr>
              <td colspan="2" class="muted">
                ${result.after.trainImages} train / ${result.after.valImages} val images${result.uncached ? `, ${result.uncached} without cached features left out` : ''}; ${duration(result.seconds)}.
                Relabelled val images change what is measured, too. To keep a model, train a new run.
              </td>
            </tr>
          </table>`
        : null
    }
  </div>`;
}

function ReviewPage({ run, rank }) {
  const i = info.value;
  const [data, setData] = useState(null);
  const [runs, setRuns] = useState([]);
  const [error, setError] = useState(null);
  const [note, setNote] = useState(null);
  const [split, setSplit] = useState('');
  const [cls, setCls] = useState('');
  const [onlySuspects, setOnlySuspects] = useState(false);
  const [busy, setBusy] = useState(false);
  const [version, setVersion] = useState(0);
  const query = () => {
    const q = new URLSearchParams();
    if (run) q.set('run', run);
    if (run && rank) q.set('rank', rank);
    return q.toString() ? `?${q}` : '';
  };
  const load = () =>
    api(`/api/data${query()}`).then((d) => {
      setData(d);
      setError(null);
    }, setError);
  useEffect(() => {
    if (!i?.dataDir) return;
    setData(null);
    load();
    api('/api/runs').then(
      (r) => setRuns(r.filter((x) => x.files.includes('model.onnx'))),
      () => {},
    );
  }, [run, rank, i?.dataDir]);
  if (i && !i.dataDir)
    return html`<section>
      <h1>Review the data</h1>
      <div class="empty">No dataset is served. Start <code>headstart serve --data DIR</code> to review a dataset folder here.</div>
    </section>`;
  if (error && !data) return html`<${ErrorBox} error=${error} />`;
  if (!data) return html`<p class="muted">${run ? `Ranking the dataset with ${run}…` : 'Loading the dataset…'}</p>`;
  const act = async (path, body) => {
    setBusy(true);
    try {
      const change = await post(path, body);
      setError(null);
      setNote(change.note ?? null);
      // A relabelled image's scores were computed for its old label: they are dropped until the next ranking.
      if (change.op === 'relabel')
        setData((d) => ({
          ...d,
          items: d.items.map((x) => (x.path === change.from ? { ...x, path: change.to, label: body.to, relabelledFrom: x.label, predicted: null, likelyLabelError: false } : x)),
          changes: [...d.changes, change],
        }));
      else if (change.op === 'remove') setData((d) => ({ ...d, items: d.items.filter((x) => x.path !== change.from), changes: [...d.changes, change] }));
      else if (change.op === 'fine') setData((d) => ({ ...d, changes: [...d.changes, change] }));
      else {
        await load();
        setVersion((v) => v + 1);
      }
      return change;
    } catch (err) {
      setError(err);
      return null;
    } finally {
      setBusy(false);
    }
  };
  const undone = new Set(data.changes.filter((c) => c.op === 'undo').map((c) => c.undoes));
  const fine = new Set(data.changes.filter((c) => c.op === 'fine' && !c.about).map((c) => c.from));
  const removed = new Set(data.changes.filter((c) => c.op === 'remove' && !undone.has(c.id)).map((c) => c.from));
  const splits = [...new Set(data.items.map((x) => x.split))];
  const shown = data.items.filter((x) => (!split || x.split === split) && (!cls || x.label === cls) && (!onlySuspects || x.likelyLabelError)).slice(0, 60);
  const pendingCount = data.changes.filter((c) => (c.op === 'relabel' || c.op === 'remove') && !undone.has(c.id)).length;
  const oof = data.ranking?.source === 'out-of-fold';
  const go = (r, k) => (location.hash = `/review${r ? `/${enc(r)}${k ? `/${k}` : ''}` : ''}`);
  return html`<section class="review">
    <h1>Review the data</h1>
    <p class="muted">
      Dataset <code>${data.root}</code>: ${data.items.length} images in ${data.classes.length} classes. Moves stay inside the dataset; removed images go to <code>.headstart-trash/</code>; every change
      is logged in <code>.headstart-changes.jsonl</code> and can be undone.
    </p>
    <p class="filters">
      <label
        >rank by run
        <select class="rank-run" value=${run || ''} onChange=${(e) => go(e.target.value, rank)}>
          <option value="">(none: folder order)</option>
          ${runs.map((r) => html`<option value=${r.name}>${r.name}</option>`)}
        </select></label
      >
      ${
        run
          ? html`<label
              >order
              <select class="rank-kind" value=${oof ? 'label-errors' : 'loss'} onChange=${(e) => go(run, e.target.value)}>
                <option value="label-errors">likely label errors (out-of-fold)</option>
                <option value="loss">top losses (the run’s model)</option>
              </select></label
            >`
          : null
      }
      <label
        >split
        <select value=${split} onChange=${(e) => setSplit(e.target.value)}>
          <option value="">all</option>
          ${splits.map((x) => html`<option value=${x}>${x}</option>`)}
        </select></label
      >
      <label
        >class
        <select value=${cls} onChange=${(e) => setCls(e.target.value)}>
          <option value="">all</option>
          ${data.classes.map((x) => html`<option value=${x}>${x}</option>`)}
        </select></label
      >
      ${run ? html`<label><input type="checkbox" checked=${onlySuspects} onChange=${(e) => setOnlySuspects(e.target.checked)} /> only likely label errors (${data.items.filter((x) => x.likelyLabelError).length})</label>` : null}
    </p>
    ${
      data.ranking
        ? html`<p class="ranking" data-source=${data.ranking.source}>
            <b>Ranking:</b>
            ${data.ranking.description}${oof ? ` (${duration(data.ranking.seconds)}${data.ranking.uncached ? `; ${data.ranking.uncached} images without cached features come last` : ''})` : ''}.
          </p>`
        : null
    }
    ${note ? html`<p class="note" role="status">${note}</p>` : null}
    <${ErrorBox} error=${error} />
    <div class="review-body">
      <div>
        <${FindingsPanel} version=${version} removed=${removed} act=${act} busy=${busy} />
        <h2>Images</h2>
        <div class="cards-grid">
          ${shown.map(
            (x) =>
              html`<div class=${`card ${x.likelyLabelError ? 'suspect' : ''} ${fine.has(x.path) ? 'fine' : ''}`} data-path=${x.path}>
                <img src=${fileUrl(x.path)} alt=${x.path} />
                <div class="path" title=${x.path}>${x.path}</div>
                <div>label <b>${x.label}</b></div>
                ${
                  x.predicted !== null
                    ? oof && x.suggested !== undefined
                      ? html`<div class=${x.likelyLabelError ? 'disagree' : 'muted'}>out-of-fold: ${x.label} ${pct(x.pLabel, 0)}; ${x.suggested} ${pct(x.pSuggested, 0)}</div>`
                      : html`<div class=${x.predicted === x.label ? 'muted' : 'disagree'}>model: ${x.predicted} ${pct(x.pPredicted, 0)}; ${x.label} ${pct(x.pLabel, 0)}</div>`
                    : null
                }
                ${x.relabelledFrom ? html`<div class="muted relabelled">relabelled from ${x.relabelledFrom}</div>` : null}
                ${x.likelyLabelError ? html`<div class="badge">likely label error${x.suggested ? `: ${x.suggested}?` : ''}</div>` : null}
                <div class="card-actions">
                  ${x.likelyLabelError && x.suggested && x.suggested !== x.label ? html`<button class="relabel-suggested" disabled=${busy} onClick=${() => act('/api/data/relabel', { path: x.path, to: x.suggested })}>→ ${x.suggested}</button>` : null}
                  <select class="relabel" disabled=${busy} onChange=${(e) => e.target.value && act('/api/data/relabel', { path: x.path, to: e.target.value })}>
                    <option value="">relabel…</option>
                    ${data.classes.filter((c) => c !== x.label).map((c) => html`<option value=${c}>${c}</option>`)}
                  </select>
                  <button class="remove" disabled=${busy} onClick=${() => act('/api/data/remove', { path: x.path })}>Remove</button>
                  <button class="fine secondary" disabled=${busy} onClick=${() => act('/api/data/fine', { path: x.path })}>Fine</button>
                </div>
              </div>`,
          )}
        </div>
        ${data.items.length > shown.length ? html`<p class="muted">Showing the first ${shown.length} of ${data.items.length}${split || cls || onlySuspects ? ' (filtered)' : ''}.</p>` : null}
      </div>
      <aside class="changes">
        ${run && oof ? html`<${RetrainPanel} run=${run} changes=${pendingCount} />` : null}
        <h2>Changes <button class="undo-all" disabled=${busy || pendingCount === 0} onClick=${() => act('/api/data/undo-all', {})}>Undo all (${pendingCount})</button></h2>
        ${data.changes.length === 0 ? html`<p class="muted">No changes yet.</p>` : null}
        <ol class="change-log" reversed>
          ${[...data.changes]
            .reverse()
            .map(
              (c) =>
                html`<li class=${`change ${c.op} ${undone.has(c.id) ? 'undone' : ''}`} data-id=${c.id}>
                  <b>${c.about ? `fine (${c.about})` : c.op}</b> ${c.to ? html`<code>${c.from}</code> → <code>${c.to}</code>` : html`<code>${c.paths ? c.paths.join(', ') : c.from}</code>`}
                  ${(c.op === 'relabel' || c.op === 'remove') && !undone.has(c.id) ? html` <button class="undo secondary" disabled=${busy} onClick=${() => act('/api/data/undo', { id: c.id })}>Undo</button>` : null}
                </li>`,
            )}
        </ol>
      </aside>
    </div>
  </section>`;
}

// ---------- The app ----------

function App() {
  useEffect(() => {
    api('/api/info').then(
      (i) => (info.value = i),
      () => {},
    );
  }, []);
  const parts = route.value.split('/').filter(Boolean).map(decodeURIComponent);
  let page;
  if (parts[0] === 'runs' && parts[1]) page = html`<${RunDetail} name=${parts[1]} />`;
  else if (parts[0] === 'compare' && parts[2]) page = html`<div class="compare"><${RunDetail} name=${parts[1]} compact=${true} /><${RunDetail} name=${parts[2]} compact=${true} /></div>`;
  else if (parts[0] === 'train') page = html`<${TrainPage} />`;
  else if (parts[0] === 'live' && parts[1]) page = html`<${LivePage} name=${parts[1]} />`;
  else if (parts[0] === 'try') page = html`<${TryPage} name=${parts[1]} />`;
  else if (parts[0] === 'review') page = html`<${ReviewPage} run=${parts[1]} rank=${parts[2]} />`;
  else page = html`<${RunsPage} />`;
  return html`<${Nav} />
    <main>${page}</main>`;
}

const root = document.getElementById('app');
root.textContent = ''; // the "Loading" placeholder
render(html`<${App} />`, root);
