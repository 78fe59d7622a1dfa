// Software Updates: the page of Settings → Software Updates.
//
// It talks only to the updater's API under api/v1 (relative, so a reverse
// proxy may mount the updater under a prefix), with the token the user
// pasted, kept in sessionStorage and sent as "Authorization: Bearer", never
// as a cookie. Live progress comes from api/v1/events, a text/event-stream
// read over fetch because EventSource cannot send that header.
//
// Nothing from the API is ever parsed as HTML: every text goes in through
// textContent or as a text node, release notes included (renderMarkdown
// builds elements from escaped text).
'use strict';

(() => {
  const TOKEN_KEY = 'better-paas-updater.token';

  // The reconciler's steps, in order (reconciler.StepNames), with the
  // words the page shows. recover does nothing going forward; its undo,
  // the last act of a rollback, starts the previous version again.
  const STEP_ORDER = ['recover', 'backup', 'fetch', 'checkout', 'build-backend', 'build-frontend',
    'stop', 'cold-backup', 'swap', 'start', 'health'];
  const STEP_LABELS = {
    recover: 'Start previous version',
    backup: 'Back up data',
    fetch: 'Fetch',
    checkout: 'Check out',
    'build-backend': 'Build backend',
    'build-frontend': 'Build frontend',
    stop: 'Stop',
    'cold-backup': 'Final backup',
    swap: 'Swap',
    start: 'Start',
    health: 'Health check',
  };
  // What a step does while it runs, for the progress sentence.
  const STEP_DOING = {
    backup: 'Backing up data',
    fetch: 'Fetching the release',
    checkout: 'Checking out the release',
    'build-backend': 'Building the backend',
    'build-frontend': 'Building the frontend',
    stop: 'Stopping the app',
    'cold-backup': 'Taking the final backup',
    swap: 'Swapping in the new build',
    start: 'Starting the new version',
    health: 'Checking the new version’s health',
  };
  const STEP_UNDOING = {
    recover: 'Starting the previous version',
    checkout: 'Checking out the previous version',
    'build-backend': 'Removing the new backend build',
    'build-frontend': 'Removing the new frontend build',
    swap: 'Putting the previous build back',
    start: 'Stopping the new version',
  };

  // Failure reasons (reconciler/errors.go) in plain words.
  const REASONS = {
    BuildFailed: 'the build failed',
    HealthCheckFailed: 'the new version did not pass its health check',
    CrashedOnStart: 'the new version exited while starting',
    HookRetryLater: 'a hook script asked to wait; the update goes on later',
    HookRefused: 'a hook script is refused (unsafe permissions or owner)',
    BackupFailed: 'the backup of your data failed',
    FetchFailed: 'the release could not be downloaded',
    CheckoutFailed: 'the release could not be checked out',
    SwapFailed: 'the new build could not be put in place',
    ServiceFailed: 'the app could not be stopped or started',
    HookFailed: 'a hook script failed',
    TooManyAttempts: 'the update was interrupted too many times',
    TagMoved: 'the release’s tag now points to a different commit',
    TagNotFound: 'the release does not exist in the repository',
    Unhealthy: 'the app is not healthy',
    PreflightFailed: 'the server is not ready for an update (disk space or build tools)',
    LocalModifications: 'files of the install were changed by hand',
    UntrackedInTheWay: 'files on the server are in the way of the release',
    DataTracked: 'git tracks files of the data folder',
    RollbackFailed: 'the rollback failed',
    Interrupted: 'the updater was stopped',
    SourceUnavailable: 'the release source could not be reached',
    DowngradeRefused: 'installing an older version was not allowed',
    InvalidSpec: 'desired.yaml is not valid',
    DesiredVersionMissing: 'desired.yaml is missing',
    VersionFailed: 'this version failed on this server before',
  };
  const RESULTS = {
    Succeeded: ['Succeeded', 'ok'],
    RolledBack: ['Rolled back', 'bad'],
    RollbackFailed: ['Rollback failed', 'bad'],
    Failed: ['Failed', 'bad'],
    Interrupted: ['Interrupted', 'warn'],
  };

  // Policies holding an update back (status.policy.reason: spec.hold,
  // spec.windows, spec.minReleaseAge, a paused fleet rollout), as a title.
  const POLICIES = {
    Held: (v) => `The update to ${v} is on hold`,
    WindowClosed: (v) => `The update to ${v} waits for a maintenance window`,
    SoakPending: (v) => `The update to ${v} waits until the release is old enough`,
    RolloutPaused: (v) => `The update to ${v} is paused with the fleet rollout`,
  };
  // How a sync of the fleet repo ended (status.fleet.result), and why
  // (status.fleet.reason, internal/fleet), in plain words.
  const FLEET_RESULTS = {
    Applied: ['Applied', 'ok'],
    Unchanged: ['In sync', 'ok'],
    OutsideWave: ['Outside the wave', 'info'],
    Refused: ['Refused', 'bad'],
    Failed: ['Failed', 'bad'],
    Paused: ['Paused', 'bad'],
  };
  const FLEET_REASONS = {
    Unreachable: 'the fleet repo cannot be reached',
    BranchMissing: 'the branch is missing from the fleet repo',
    Unsigned: 'the fleet commit is not signed',
    UntrustedSignature: 'the fleet commit is signed by a key updater.yaml does not trust',
    PathMissing: 'the fleet repo has no file for this server',
    InvalidFile: 'the fleet file is not valid',
    CloneFailed: 'the copy of the fleet repo on this server could not be updated',
    WriteFailed: 'desired.yaml could not be written',
    Canary: 'this server is a canary: it moves first',
    InWave: 'this server is inside the rollout wave',
  };

  const MAX_LOG_LINES = 5000;
  const STATUS_EVERY_MS = 10000;
  const PENDING_MS = 120000;
  const CLOCK_SLACK_MS = 5000;

  const state = {
    token: sessionStorage.getItem(TOKEN_KEY) || '',
    signedIn: false,
    status: null, // VersionStatus as status.yaml holds it
    desired: null, // {file, version, generation, error}
    check: null, // GET releases
    checkError: '',
    history: [],
    backups: [],
    backupsError: '',
    op: null, // the operation drawn in the progress card, from events
    pendingTarget: '', // the version asked for, until its first event
    pendingSince: 0,
  };

  const $ = (id) => document.getElementById(id);

  // ---- DOM helpers: elements from text, never from markup ----

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'class') node.className = v;
      else if (k === 'text') node.textContent = v;
      else if (k === 'dataset') Object.assign(node.dataset, v);
      else node.setAttribute(k, v === true ? '' : String(v));
    }
    for (const c of children) {
      if (c === undefined || c === null || c === false) continue;
      node.append(c);
    }
    return node;
  }

  // replace swaps a container's children, giving focus back to the element
  // with the same data-key when the focused one was among those replaced,
  // so a live update never throws a keyboard user back to the top.
  function replace(container, ...nodes) {
    const active = document.activeElement;
    const key = active && container.contains(active) ? active.dataset.key : undefined;
    container.replaceChildren(...nodes.filter((n) => n));
    if (key) {
      const again = container.querySelector(`[data-key="${CSS.escape(key)}"]`);
      if (again) again.focus();
    }
  }

  // Rendering is skipped when what a section shows did not change.
  const shown = new Map();
  function changed(key, ...values) {
    const sig = JSON.stringify(values);
    if (shown.get(key) === sig) return false;
    shown.set(key, sig);
    return true;
  }

  function badge(text, kind) {
    return el('span', { class: `badge ${kind || ''}`.trim(), text });
  }

  // ---- Time, sizes, versions ----

  const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });
  // A time still to come, in the browser's time zone, named.
  const localFormat = new Intl.DateTimeFormat(undefined, {
    year: 'numeric', month: 'short', day: 'numeric', hour: 'numeric', minute: '2-digit', timeZoneName: 'short',
  });
  const dayFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium' });

  function parseTime(t) {
    const ms = Date.parse(t || '');
    return Number.isFinite(ms) && ms > 0 ? ms : NaN;
  }

  function ago(t) {
    const ms = parseTime(t);
    if (Number.isNaN(ms)) return '';
    const s = (Date.now() - ms) / 1000;
    if (s < 45) return 'just now';
    const m = Math.round(s / 60);
    if (m < 60) return `${m} min ago`;
    const h = Math.round(m / 60);
    if (h < 24) return `${h} h ago`;
    const d = Math.round(h / 24);
    return d === 1 ? 'yesterday' : `${d} days ago`;
  }

  // timeEl is a <time> saying how long ago t was, with the date as its title;
  // refreshRelative keeps its words current.
  function timeEl(t, prefix) {
    const ms = parseTime(t);
    if (Number.isNaN(ms)) return document.createTextNode('—');
    return el('time', {
      datetime: new Date(ms).toISOString(), title: dateFormat.format(ms),
      class: 'rel', dataset: { prefix: prefix || '' }, text: (prefix || '') + ago(t),
    });
  }

  // fromNow says how far off a time to come is.
  function fromNow(t) {
    const ms = parseTime(t);
    if (Number.isNaN(ms)) return '';
    const s = (ms - Date.now()) / 1000;
    if (s < 45) return 'any moment now';
    const m = Math.round(s / 60);
    if (m < 60) return `in ${m} min`;
    const h = Math.round(m / 60);
    if (h < 48) return `in ${h} h`;
    return `in ${Math.round(h / 24)} days`;
  }

  // untilEl is a time to come as the browser's local time, with how far
  // off it is; refreshRelative keeps those words current.
  function untilEl(t) {
    const ms = parseTime(t);
    if (Number.isNaN(ms)) return document.createTextNode('—');
    const iso = new Date(ms).toISOString();
    return el('span', { class: 'until' },
      el('time', { datetime: iso, title: iso, text: localFormat.format(ms) }),
      ' ',
      el('span', { class: 'until-rel', dataset: { until: iso }, text: `(${fromNow(t)})` }));
  }

  function refreshRelative() {
    for (const t of document.querySelectorAll('time.rel')) {
      t.textContent = (t.dataset.prefix || '') + ago(t.getAttribute('datetime'));
    }
    for (const t of document.querySelectorAll('.until-rel')) {
      t.textContent = `(${fromNow(t.dataset.until)})`;
    }
  }

  function duration(ms) {
    if (!Number.isFinite(ms) || ms < 0) return '';
    if (ms < 1000) return `${Math.round(ms)} ms`;
    const s = ms / 1000;
    if (s < 60) return `${s < 10 ? s.toFixed(1) : Math.round(s)} s`;
    const m = Math.floor(s / 60);
    const rest = Math.round(s - m * 60);
    return `${m} min ${String(rest).padStart(2, '0')} s`;
  }

  function bytes(n) {
    if (!Number.isFinite(n)) return '—';
    const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    let i = 0;
    while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
    return i === 0 ? `${n} B` : `${n.toFixed(1)} ${units[i]}`;
  }

  const stepLabel = (name) => STEP_LABELS[name] || (name ? name.replace(/-/g, ' ') : 'an unknown step');
  const reasonWords = (reason) => REASONS[reason] || (reason ? reason.replace(/([a-z])([A-Z])/g, '$1 $2').toLowerCase() : 'it failed');
  const shortCommit = (c) => (c ? c.slice(0, 7) : '');

  // ---- The API ----

  class APIError extends Error {
    constructor(status, code, message) {
      super(message);
      this.status = status;
      this.code = code;
    }
  }

  async function errorOf(res) {
    let body = null;
    try { body = await res.json(); } catch { /* not JSON */ }
    const e = body && body.error;
    const message = e && typeof e.message === 'string' && e.message
      ? e.message
      : `The updater answered ${res.status} ${res.statusText || ''}`.trim() + '.';
    return new APIError(res.status, (e && e.code) || `http_${res.status}`, message);
  }

  async function api(method, path, body) {
    const headers = { Authorization: `Bearer ${state.token}`, Accept: 'application/json' };
    const init = { method, headers, cache: 'no-store', credentials: 'omit' };
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    let res;
    try {
      res = await fetch(`api/v1/${path}`, init);
    } catch {
      throw new APIError(0, 'network', 'The updater cannot be reached. Check that it is running, then try again.');
    }
    if (!res.ok) {
      const err = await errorOf(res);
      if (res.status === 401) signOut(err.message);
      throw err;
    }
    return res.status === 204 ? null : res.json();
  }

  // ---- Notices ----

  function notify(message, kind) {
    $('notice-text').textContent = message;
    $('notice').className = `notice ${kind || ''}`.trim();
    $('notice').hidden = false;
  }
  function clearNotice() { $('notice').hidden = true; }

  // ---- Sign-in ----

  function askToken(message) {
    const dlg = $('token-dialog');
    $('token-error').textContent = message || '';
    $('token-error').hidden = !message;
    $('token-input').value = '';
    $('token-input').setAttribute('aria-invalid', message ? 'true' : 'false');
    if (!dlg.open) dlg.showModal();
    $('token-input').focus();
  }

  function signOut(message) {
    state.token = '';
    state.signedIn = false;
    sessionStorage.removeItem(TOKEN_KEY);
    stream.stop();
    $('live-state').hidden = true;
    $('app').hidden = true;
    $('signed-out').hidden = false;
    $('change-token').hidden = true;
    askToken(message);
  }

  async function submitToken(ev) {
    ev.preventDefault();
    const token = $('token-input').value.trim();
    if (!token) {
      $('token-error').textContent = 'Paste the token first.';
      $('token-error').hidden = false;
      $('token-input').setAttribute('aria-invalid', 'true');
      return;
    }
    const button = $('token-submit');
    setBusy(button, true);
    state.token = token;
    try {
      await loadStatus();
    } catch (e) {
      setBusy(button, false);
      state.token = '';
      if (e.status === 401) {
        askToken('That token was not accepted. Check it and try again; `better-paas-updater token rotate` makes a new one.');
      } else {
        askToken(e.message);
      }
      return;
    }
    setBusy(button, false);
    sessionStorage.setItem(TOKEN_KEY, token);
    $('token-dialog').close();
    start();
  }

  function start() {
    state.signedIn = true;
    clearNotice();
    $('signed-out').hidden = true;
    $('app').hidden = false;
    $('change-token').hidden = false;
    render();
    refresh({ releases: true });
    stream.start();
  }

  // ---- Loading ----

  async function loadStatus() {
    const data = await api('GET', 'status');
    state.status = data.status || {};
    state.desired = data.desired || {};
    adoptJournal();
    settlePending();
  }

  // settlePending lets go of a version the page asked for when the daemon
  // will not start an update for it: it stalled since (a refused
  // downgrade, say: the page says why), it already runs, or nothing
  // started within PENDING_MS.
  function settlePending() {
    const st = state.status;
    if (!state.pendingTarget || st.operation) return;
    const stalled = condition('Stalled');
    const ready = condition('Ready');
    if (stalled && stalled.status === 'True' && parseTime(stalled.lastTransitionTime) >= state.pendingSince - CLOCK_SLACK_MS) {
      notify(`The updater did not start the update to ${state.pendingTarget}: ${stalled.message || reasonWords(stalled.reason)}`);
      state.pendingTarget = '';
    } else if (st.currentVersion === state.pendingTarget && ready && ready.status === 'True') {
      state.pendingTarget = '';
    } else if (Date.now() - state.pendingSince > PENDING_MS) {
      state.pendingTarget = '';
    }
  }

  async function loadReleases(refreshCache) {
    try {
      state.check = await api('GET', refreshCache ? 'releases?refresh=true' : 'releases');
      state.checkError = '';
    } catch (e) {
      if (e.status === 401) throw e;
      state.checkError = e.message;
    }
  }

  async function loadHistory() {
    const data = await api('GET', 'history');
    state.history = (data && data.history) || [];
  }

  async function loadBackups() {
    try {
      const data = await api('GET', 'backups');
      state.backups = (data && data.backups) || [];
      state.backupsError = '';
    } catch (e) {
      if (e.status === 401) throw e;
      state.backupsError = e.message;
    }
  }

  // refresh reloads what the page shows from the API; releases too when
  // asked (after an update the running version, and with it what is
  // newer, changed).
  async function refresh(what) {
    if (!state.signedIn) return;
    try {
      const jobs = [loadStatus(), loadHistory(), loadBackups()];
      if (what && what.releases) jobs.push(loadReleases(false));
      await Promise.all(jobs);
    } catch (e) {
      if (e.status !== 401) notify(e.message);
    }
    render();
  }

  let refreshTimer = 0;
  let refreshReleases = false;
  function scheduleRefresh(releases) {
    refreshReleases = refreshReleases || !!releases;
    clearTimeout(refreshTimer);
    refreshTimer = setTimeout(() => {
      const r = refreshReleases;
      refreshReleases = false;
      refresh({ releases: r });
    }, 120);
  }

  // ---- The operation in the progress card ----

  function newOp(id) {
    return { id, from: '', to: '', steps: {}, logs: [], outcome: null, startedAt: NaN, lastLogStep: '' };
  }

  function ensureOp(id) {
    if (!id) return state.op;
    if (!state.op || state.op.id !== id) {
      state.op = newOp(id);
      state.op.to = state.pendingTarget;
      resetLog();
      scheduleRefresh(false); // learn from and to
    }
    return state.op;
  }

  // adoptJournal draws an operation that status.yaml journals but no event
  // has described (the page opened after the daemon restarted mid-update).
  function adoptJournal() {
    const j = state.status && state.status.operation;
    if (!j) return;
    if (!state.op || state.op.id !== j.id) {
      state.op = newOp(j.id);
      resetLog();
      for (const name of j.done || []) state.op.steps[name] = { do: { state: 'succeeded' } };
      const s = (state.op.steps[j.step] = state.op.steps[j.step] || {});
      const phase = String(j.phase || 'Do').toLowerCase();
      // A hook asked to wait (exit 21): the step is held, not running.
      const held = (state.status.conditions || []).find((c) => c.type === 'Reconciling' && c.reason === 'HookRetryLater');
      s[phase] = held ? { state: 'held', error: held.message } : { state: 'started', start: NaN };
    }
    state.op.from = state.op.from || (j.from && j.from.version) || '';
    state.op.to = state.op.to || (j.to && j.to.version) || '';
    if (Number.isNaN(state.op.startedAt)) state.op.startedAt = parseTime(j.startedAt);
  }

  function applyStep(e) {
    const op = ensureOp(e.operation);
    if (!op || !e.step) return;
    const t = parseTime(e.time);
    if (Number.isNaN(op.startedAt)) op.startedAt = t;
    const s = (op.steps[e.step] = op.steps[e.step] || {});
    const phase = e.phase === 'undo' ? 'undo' : 'do';
    const prev = s[phase] || {};
    s[phase] = {
      state: e.state,
      start: e.state === 'started' ? t : prev.start,
      durationMs: e.durationMs,
      error: e.error || '',
    };
    state.pendingTarget = '';
  }

  function applyLog(e) {
    const op = ensureOp(e.operation);
    if (!op || typeof e.line !== 'string') return;
    op.logs.push({ step: e.step || '', line: e.line });
    appendLog(op, e.step || '', e.line);
  }

  function applyOutcome(e) {
    const op = ensureOp(e.operation);
    if (!op) return;
    op.outcome = e;
    op.from = e.from || op.from;
    op.to = e.to || op.to;
    state.pendingTarget = '';
  }

  // ---- Events: text/event-stream over fetch ----

  // EventStream reads api/v1/events with the Authorization header, parses
  // the stream as the HTML standard says (fields, comments, CR/LF/CRLF line
  // ends, multi-line data) and reconnects after the stream ends or fails,
  // sending Last-Event-ID so the server replays what was missed.
  class EventStream {
    constructor(onEvent) {
      this.onEvent = onEvent;
      this.running = false;
      this.lastEventId = '';
      this.retryMs = 1000;
      this.ctrl = null;
      this.wake = null;
    }

    start() {
      if (this.running) return;
      this.running = true;
      this.loop();
    }

    stop() {
      this.running = false;
      if (this.ctrl) this.ctrl.abort();
      if (this.wake) this.wake();
    }

    async loop() {
      let failures = 0;
      while (this.running) {
        this.ctrl = new AbortController();
        try {
          await this.read(this.ctrl.signal);
          failures = 0;
        } catch (e) {
          if (!this.running) return;
          if (e instanceof APIError && e.status === 401) {
            signOut(e.message);
            return;
          }
          failures++;
        }
        if (!this.running) return;
        setLive(false);
        const delay = failures === 0 ? this.retryMs : Math.min(15000, this.retryMs * 2 ** Math.min(failures, 4));
        await new Promise((resolve) => {
          const timer = setTimeout(resolve, delay);
          this.wake = () => { clearTimeout(timer); resolve(); };
        });
        this.wake = null;
      }
    }

    async read(signal) {
      const headers = { Authorization: `Bearer ${state.token}`, Accept: 'text/event-stream' };
      if (this.lastEventId) headers['Last-Event-ID'] = this.lastEventId;
      const res = await fetch('api/v1/events', { headers, signal, cache: 'no-store', credentials: 'omit' });
      if (!res.ok) throw await errorOf(res);
      if (!(res.headers.get('Content-Type') || '').startsWith('text/event-stream') || !res.body) {
        throw new APIError(res.status, 'bad_stream', 'The updater did not answer with an event stream.');
      }
      setLive(true);
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let buf = '';
      const ev = { type: '', data: [], id: null };
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        buf += value;
        for (;;) {
          const i = buf.search(/[\r\n]/);
          if (i < 0) break;
          // A CR at the end of what arrived may be the first half of CRLF.
          if (buf[i] === '\r' && i === buf.length - 1) break;
          const line = buf.slice(0, i);
          buf = buf.slice(i + (buf[i] === '\r' && buf[i + 1] === '\n' ? 2 : 1));
          this.line(line, ev);
        }
      }
    }

    line(line, ev) {
      if (line === '') {
        // The event is complete: its id counts as seen only now, so a
        // reconnect never skips an event that was cut off.
        if (ev.id !== null) this.lastEventId = ev.id;
        if (ev.data.length) {
          try {
            this.onEvent(ev.type || 'message', ev.data.join('\n'));
          } catch (err) {
            console.error('cannot apply event', err);
          }
        }
        ev.type = '';
        ev.data = [];
        ev.id = null;
        return;
      }
      if (line[0] === ':') return; // a comment: keepalive
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? '' : line.slice(colon + 1);
      if (value[0] === ' ') value = value.slice(1);
      switch (field) {
        case 'event': ev.type = value; break;
        case 'data': ev.data.push(value); break;
        case 'id': if (!value.includes('\0')) ev.id = value; break;
        case 'retry': if (/^\d+$/.test(value)) this.retryMs = Number(value); break;
        default: break;
      }
    }
  }

  function onEvent(type, data) {
    let e;
    try { e = JSON.parse(data); } catch { return; }
    switch (e.type || type) {
      case 'step': applyStep(e); renderProgress(); break;
      case 'log': applyLog(e); break;
      case 'outcome': applyOutcome(e); renderProgress(); scheduleRefresh(true); break;
      case 'condition': scheduleRefresh(false); break;
      case 'gap': scheduleRefresh(true); break; // events were missed: read the state afresh
      default: break;
    }
  }

  const stream = new EventStream(onEvent);

  function setLive(on) {
    const s = $('live-state');
    if (!s) return;
    s.textContent = on ? 'Live' : 'Reconnecting…';
    s.title = on ? 'Progress arrives as it happens' : 'The connection to the updater was lost; reconnecting';
    s.className = `badge ${on ? 'ok' : 'warn'}`;
    s.hidden = !state.signedIn;
  }

  // ---- Rendering ----

  function render() {
    if (!state.signedIn) return;
    renderPaused();
    renderCurrent();
    renderPolicy();
    renderUpdates();
    renderFleet();
    renderProgress();
    renderFailed();
    renderHistory();
    renderBackups();
    refreshRelative();
  }

  function condition(type) {
    const cs = (state.status && state.status.conditions) || [];
    return cs.find((c) => c.type === type);
  }

  function inFlight() {
    return !!((state.status && state.status.operation) || state.pendingTarget ||
      (state.op && !state.op.outcome && Object.keys(state.op.steps).length));
  }

  // rollbackTarget is the version `POST rollback` would go back to (the
  // API's internal/desired.RollbackTarget): the last known good one when it
  // is not what runs, otherwise the good one before it.
  function rollbackTarget() {
    const st = state.status || {};
    const lkg = st.lastKnownGood && st.lastKnownGood.version;
    if (lkg && lkg !== st.currentVersion) return lkg;
    const prev = st.previousGood && st.previousGood.version;
    return prev && prev !== st.currentVersion ? prev : '';
  }

  function installedAt(version) {
    const e = state.history.find((h) => h.result === 'Succeeded' && h.to === version);
    return e ? e.finishedAt : '';
  }

  function renderCurrent() {
    const st = state.status || {};
    const d = state.desired || {};
    const ready = condition('Ready');
    const stalled = condition('Stalled');
    const policy = st.policy;
    if (!changed('current', st.currentVersion, st.currentCommit, st.lastKnownGood, st.previousGood, ready, stalled, d,
      policy, inFlight(), state.history.length && state.history[0].id)) return;

    $('cur-version').textContent = st.currentVersion || 'Not installed';
    const commit = $('cur-commit');
    commit.textContent = shortCommit(st.currentCommit) || '—';
    if (st.currentCommit) commit.title = st.currentCommit; else commit.removeAttribute('title');
    const since = installedAt(st.currentVersion);
    replace($('cur-since'), since ? timeEl(since) : document.createTextNode('—'));
    $('cur-desired').textContent = d.version ? (d.version === 'latest' ? 'latest (follows new releases)' : d.version) : '—';

    // A release that failed and was rolled back leaves the host stalled
    // on it, yet the previous version runs: say that, not "needs attention".
    const versionFailed = stalled && stalled.status === 'True' && stalled.reason === 'VersionFailed';
    let label = 'Unknown';
    let kind = '';
    if (inFlight()) { label = 'Updating'; kind = 'info'; }
    else if (policy && policy.reason === 'RolloutPaused') { label = 'Paused'; kind = 'warn'; }
    else if (versionFailed) { label = 'Rolled back'; kind = 'warn'; }
    else if (stalled && stalled.status === 'True') { label = 'Needs attention'; kind = 'bad'; }
    else if (policy) { label = 'Update waiting'; kind = 'info'; }
    else if (ready && ready.status === 'True') { label = 'Healthy'; kind = 'ok'; }
    else if (ready) { label = 'Not ready'; kind = 'warn'; }
    const h = $('health');
    h.textContent = label;
    h.className = `badge ${kind}`.trim();

    const msg = $('cur-message');
    let text = '';
    if (d.error) text = `desired.yaml cannot be used: ${d.error}`;
    else if (versionFailed && !inFlight()) {
      text = `${st.targetVersion || d.version || 'The version asked for'} failed on this server and was rolled back; ${st.currentVersion || 'the previous version'} keeps running. Retry it under Failed versions, or choose another version.`;
    } else if (stalled && stalled.status === 'True') text = stalled.message || reasonWords(stalled.reason);
    else if (ready && ready.status !== 'True' && !inFlight() && !(policy && policy.reason === ready.reason)) {
      text = ready.message || ''; // a policy wait says it in its own box
    }
    msg.textContent = text;
    msg.hidden = !text;

    const target = rollbackTarget();
    $('rollback-actions').hidden = !target;
    if (target) {
      $('rollback').textContent = `Roll back to ${target}`;
      $('rollback').disabled = inFlight();
      $('rollback-hint').textContent = target === (st.lastKnownGood && st.lastKnownGood.version)
        ? 'The last version that ran healthy on this server.'
        : 'The version that ran healthy here before this one.';
    }
  }

  // renderPolicy shows the policy holding an update back (status.policy):
  // what waits, why, and until when in the browser's local time.
  function renderPolicy() {
    const p = state.status && state.status.policy;
    const f = state.status && state.status.fleet;
    // A paused rollout's message is the banner's: not said twice.
    const bannered = !!(p && p.reason === 'RolloutPaused' && f && f.paused);
    if (!changed('policy', p, bannered)) return;
    const box = $('policy');
    box.hidden = !p;
    if (!p) return;
    box.dataset.reason = p.reason || '';
    const v = p.version || 'the new version';
    $('policy-title').textContent = POLICIES[p.reason] ? POLICIES[p.reason](v) : `The update to ${v} waits: ${reasonWords(p.reason)}`;
    $('policy-message').textContent = bannered ? '' : (p.message || '');
    $('policy-message').hidden = bannered || !p.message;
    let until;
    if (!Number.isNaN(parseTime(p.until))) until = [document.createTextNode('Until '), untilEl(p.until)];
    else if (p.reason === 'RolloutPaused') until = [document.createTextNode('Until the fleet file for this server changes.')];
    else until = [document.createTextNode('No end is known: look at desired.yaml.')];
    replace($('policy-until'), ...until);
  }

  // renderPaused shows the banner of a paused fleet rollout
  // (status.fleet.paused): what failed, and how to resume.
  function renderPaused() {
    const f = state.status && state.status.fleet;
    const p = f && f.paused;
    if (!changed('paused', p, f && f.document, f && f.repo, f && f.branch)) return;
    $('paused').hidden = !p;
    if (!p) return;
    $('paused-text').textContent = p.message || `${p.version} failed on this server, which paused it.`;
    const file = (f.document && f.document.path) || f.path || 'the fleet file';
    replace($('paused-detail'),
      document.createTextNode(`${p.version || 'An update'} failed here `), timeEl(p.failedAt),
      document.createTextNode(`. This server writes nothing but its own status until ${file} changes in ${f.repo || 'the fleet repo'}${f.branch ? ` (branch ${f.branch})` : ''}: commit a change to it to resume.`));
  }

  // renderFleet shows the last sync of the fleet repo (status.fleet).
  function renderFleet() {
    const f = state.status && state.status.fleet;
    if (!changed('fleet', f)) return;
    $('fleet').hidden = !f;
    if (!f) return;
    const [label, kind] = FLEET_RESULTS[f.result] || [f.result || 'Unknown', 'warn'];
    const b = $('fleet-result');
    b.textContent = label;
    b.className = `badge ${kind}`;
    b.dataset.result = f.result || '';
    $('fleet-repo').textContent = f.repo || '—';
    $('fleet-branch').textContent = f.branch || '—';
    const commit = $('fleet-commit');
    commit.textContent = shortCommit(f.commit) || '—';
    if (f.commit) commit.title = f.commit; else commit.removeAttribute('title');
    replace($('fleet-path'), f.path ? el('code', { text: f.path }) : document.createTextNode('—'));
    const cohort = Number(f.cohort);
    $('fleet-cohort').textContent = Number.isFinite(cohort)
      ? `${cohort} (moves when rollout.percent > ${cohort})` : '—';
    replace($('fleet-synced'), f.syncedAt ? timeEl(f.syncedAt) : document.createTextNode('—'));
    const d = f.document;
    replace($('fleet-document'), d
      ? el('span', {}, el('strong', { text: d.version || '—' }), document.createTextNode(d.pauseOnFailure ? ' · pauses on failure' : ''))
      : document.createTextNode('—'));
    const a = f.applied;
    replace($('fleet-applied'), a
      ? el('span', {}, el('strong', { text: a.version || '—' }),
        document.createTextNode(a.commit ? ` from ${shortCommit(a.commit)} · ` : ' · '), timeEl(a.at))
      : document.createTextNode('Nothing yet'));
    const why = f.reason ? `${FLEET_REASONS[f.reason] || reasonWords(f.reason)}` : '';
    const text = [why && `${why.charAt(0).toUpperCase()}${why.slice(1)}.`, f.message].filter(Boolean).join(' ');
    const msg = $('fleet-message');
    msg.textContent = text;
    msg.className = `fleet-message callout ${kind === 'bad' ? 'bad' : ''}`.trim();
    msg.hidden = !text;
  }

  function renderUpdates() {
    const c = state.check;
    const st = state.status || {};
    if (!changed('updates', c, state.checkError, st.currentVersion, inFlight(), st.failedVersions)) return;

    const checked = $('checked');
    replace(checked, c && c.fetchedAt ? timeEl(c.fetchedAt, 'Checked ') : document.createTextNode(c ? '' : 'Not checked yet'));

    const stale = $('stale');
    if (c && c.stale) {
      stale.textContent = `This answer is from the cache, fetched ${ago(c.fetchedAt) || 'earlier'}: ${c.stale}`;
      stale.hidden = false;
    } else {
      stale.hidden = true;
    }

    const summary = [];
    if (state.checkError) {
      summary.push(el('p', { class: 'callout bad', text: `Cannot check for updates: ${state.checkError}` }));
    }
    const releases = (c && c.releases) || [];
    const current = st.currentVersion || (c && c.currentVersion) || '';
    if (c && c.updateAvailable && c.latestVersion) {
      const rel = releases.find((r) => r.version === c.latestVersion) || {};
      const busy = inFlight();
      summary.push(el('div', { class: 'available' },
        el('div', {},
          el('p', {}, el('strong', { text: `${c.latestVersion} is available` })),
          el('p', { class: 'muted small', text: [current && `You are running ${current}`, rel.publishedAt && `released ${dayFormat.format(parseTime(rel.publishedAt))}`].filter(Boolean).join(' · ') })),
        el('button', {
          type: 'button', id: 'update-now', class: 'button primary', 'data-key': 'update-now',
          'data-version': c.latestVersion, disabled: busy, text: busy ? 'Update in progress' : 'Update now',
        })));
    } else if (c) {
      summary.push(el('p', { class: 'uptodate' }, el('strong', { text: 'You’re up to date.' }), ' ',
        document.createTextNode(current ? `${current} is the newest release.` : '')));
    }
    for (const v of (c && c.skippedFailed) || []) {
      summary.push(el('p', { class: 'callout warn', text: `${v} is newer, but it failed on this server and is skipped until you retry it (see Failed versions).` }));
    }
    replace($('update-summary'), ...summary);

    const list = [];
    const newer = releases.filter((r) => r.version !== current);
    newer.forEach((r, i) => list.push(releaseEl(r, i === 0 || r.version === (c && c.latestVersion))));
    replace($('releases'), ...list);

    $('footer-source').textContent = c && c.source ? `Releases: ${c.source}` : '';
  }

  function releaseEl(r, open) {
    const title = r.name && r.name !== r.version ? `${r.version} · ${r.name}` : r.version;
    const meta = [];
    if (r.prerelease) meta.push(badge('Pre-release', 'warn'));
    if (r.publishedAt) meta.push(el('span', { class: 'muted small', text: dayFormat.format(parseTime(r.publishedAt)) }));
    if (isWebURL(r.url)) {
      meta.push(el('a', { href: r.url, target: '_blank', rel: 'noopener noreferrer', class: 'small', text: 'View release' }));
    }
    const notes = el('div', { class: 'notes' });
    if (r.notes && r.notes.trim()) notes.append(renderMarkdown(r.notes));
    else notes.append(el('p', { class: 'muted', text: 'This release has no notes.' }));
    const body = open
      ? notes
      : el('details', {}, el('summary', { text: 'Release notes', 'data-key': `notes-${r.version}` }), notes);
    return el('article', { class: 'release', dataset: { version: r.version } },
      el('div', { class: 'release-head' }, el('h3', { text: title }), ...meta), body);
  }

  function renderProgress() {
    const op = state.op;
    const card = $('progress');
    if (!op && !state.pendingTarget) {
      card.hidden = true;
      return;
    }
    card.hidden = false;
    card.dataset.operation = op ? op.id : '';
    const rows = op ? stepRows(op) : STEP_ORDER.filter((n) => n !== 'recover').map((name) => ({ name, state: 'pending', detail: '', time: '' }));
    const o = op && op.outcome;
    const to = (op && op.to) || state.pendingTarget;
    const from = op && op.from;
    if (!changed('progress', rows, o && o.operation, to, from, state.pendingTarget, state.history.length && state.history[0].id)) {
      tickTimers();
      return;
    }

    $('progress-h').textContent = to ? `${o && !from ? 'Install' : 'Update to'} ${to}` : 'Update';
    const [label, kind] = o ? (RESULTS[o.result] || [o.result, 'warn']) : ['Running', 'info'];
    const b = $('progress-badge');
    b.textContent = label;
    b.className = `badge ${kind}`;

    $('progress-text').textContent = progressSentence(op, rows, from, to);
    replace($('steps'), ...rows.map(stepEl));
    renderOutcome(o);
    tickTimers();
  }

  // stepRows decides what each step's row shows. A step with no event is
  // left out when a later one has some (it is not part of this update, e.g.
  // no frontend build is configured); recover shows only when it ran its
  // undo, the last act of a rollback.
  function stepRows(op) {
    const names = STEP_ORDER.filter((n) => n !== 'recover');
    for (const n of Object.keys(op.steps)) if (!STEP_ORDER.includes(n)) names.push(n);
    const visible = [];
    let laterSeen = false;
    for (let i = names.length - 1; i >= 0; i--) {
      if (op.steps[names[i]]) { laterSeen = true; visible.unshift(names[i]); }
      else if (!laterSeen) visible.unshift(names[i]);
    }
    if (op.steps.recover && op.steps.recover.undo) visible.push('recover');
    const finished = !!op.outcome;
    return visible.map((name) => {
      const s = op.steps[name] || {};
      const d = s.do || {};
      const u = s.undo || {};
      const row = { name, state: 'pending', detail: '', time: '', start: NaN };
      if (name === 'recover') {
        row.state = u.state === 'started' ? 'running' : u.state === 'failed' ? 'failed' : 'done';
        row.time = duration(u.durationMs);
        row.detail = u.error || '';
        row.start = u.start;
        return row;
      }
      if (u.state) {
        row.state = u.state === 'started' ? 'running' : u.state === 'failed' ? 'failed' : 'undone';
        row.detail = u.state === 'started' ? 'Undoing' : u.state === 'failed' ? `Undo failed: ${u.error || ''}` : 'Undone';
        row.time = duration(d.durationMs);
        row.start = u.start;
        row.undo = true;
        return row;
      }
      switch (d.state) {
        case 'started': row.state = finished ? 'failed' : 'running'; row.start = d.start; break;
        case 'succeeded': row.state = 'done'; row.time = duration(d.durationMs); break;
        case 'failed': row.state = 'failed'; row.time = duration(d.durationMs); row.detail = d.error || ''; break;
        case 'skipped': row.state = 'skipped'; row.detail = 'Nothing to do'; break;
        case 'held': row.state = 'held'; row.time = duration(d.durationMs); row.detail = d.error || 'A hook asked to wait; the update goes on later'; break;
        default: row.state = finished && op.outcome.result !== 'Succeeded' ? 'notrun' : 'pending'; break;
      }
      return row;
    });
  }

  const STATE_WORDS = { pending: 'Waiting', running: 'Running', done: 'Done', failed: 'Failed', skipped: 'Skipped', undone: 'Undone', notrun: 'Not run', held: 'Held' };
  const STATE_ICONS = { done: '✓', failed: '✕', skipped: '–', undone: '↺', held: '‖' };

  function stepEl(row) {
    const time = el('span', { class: 'step-time', text: row.time });
    if (row.state === 'running' && Number.isFinite(row.start)) time.dataset.start = String(row.start);
    return el('li', { class: `step is-${row.state}`, dataset: { step: row.name, state: row.state } },
      el('span', { class: 'step-icon', 'aria-hidden': 'true', text: STATE_ICONS[row.state] || '' }),
      el('span', { class: 'step-name' },
        document.createTextNode(stepLabel(row.name)),
        el('span', { class: 'visually-hidden', text: `: ${STATE_WORDS[row.state]}` }),
        row.detail ? el('span', { class: 'step-detail', title: row.detail.length > 160 ? row.detail : null, text: clip(row.detail, 160) }) : null),
      time);
  }

  // clip shortens text to n characters; the full text stays elsewhere on
  // the page (the outcome, the title attribute).
  function clip(text, n) {
    return text.length > n ? `${text.slice(0, n - 1)}…` : text;
  }

  // tickTimers shows how long the running step has been running.
  function tickTimers() {
    for (const t of document.querySelectorAll('#steps .step-time[data-start]')) {
      t.textContent = duration(Math.max(0, Date.now() - Number(t.dataset.start)));
    }
  }

  function progressSentence(op, rows, from, to) {
    if (!op) return `Asked the updater to install ${to}. Waiting for it to start…`;
    const o = op.outcome;
    if (o) return outcomeTitle(o);
    const running = rows.find((r) => r.state === 'running');
    const plan = rows.filter((r) => r.name !== 'recover');
    if (!running) return `Updating${to ? ` to ${to}` : ''}…`;
    if (running.undo || running.name === 'recover') {
      const failed = rows.find((r) => r.state === 'failed');
      const why = failed ? `${stepLabel(failed.name)} failed. ` : '';
      return `${why}Rolling back: ${(STEP_UNDOING[running.name] || `undoing ${stepLabel(running.name)}`)}…`;
    }
    const n = plan.indexOf(running) + 1;
    return `Step ${n} of ${plan.length}: ${STEP_DOING[running.name] || stepLabel(running.name)}…${from && to ? ` (${from} → ${to})` : ''}`;
  }

  function outcomeTitle(o) {
    const f = o.failure || {};
    switch (o.result) {
      case 'Succeeded': return `${o.from ? 'Updated to' : 'Installed'} ${o.to}. It passed its health check and is running.`;
      case 'RolledBack': return `Rolled back: ${reasonWords(f.reason)}, at ${stepLabel(f.step)}.`;
      case 'RollbackFailed': return `The update failed at ${stepLabel(f.step)} (${reasonWords(f.reason)}), and rolling it back failed too. The app needs attention.`;
      case 'Interrupted': return `Interrupted at ${stepLabel(f.step)}: the updater stopped. It continues when it starts again.`;
      default: return `The update failed: ${reasonWords(f.reason)}, at ${stepLabel(f.step)}.`;
    }
  }

  function renderOutcome(o) {
    const box = $('outcome');
    if (!o) {
      box.hidden = true;
      box.replaceChildren();
      return;
    }
    const f = o.failure || {};
    const ok = o.result === 'Succeeded';
    const parts = [];
    if (ok) {
      parts.push(el('p', { text: `${o.from ? `${o.from} → ` : ''}${o.to}${durationOf(o)}. Your data was backed up first.` }));
    } else {
      if (o.result === 'RolledBack') {
        parts.push(el('p', { text: `${o.from || 'The previous version'} is running again. ${o.to} is recorded as failed and is not installed again until you retry it.` }));
      } else if (o.result === 'RollbackFailed') {
        parts.push(el('p', { text: 'The updater holds everything until someone acts. Roll back installs the last version that ran healthy again; the logs in the state folder say more.' }));
      } else if (o.message) {
        parts.push(el('p', { text: o.message }));
      }
      if (f.message) parts.push(el('p', { class: 'outcome-message small', text: `Details: ${f.message}` }));
      const tail = Array.isArray(o.logTail) ? o.logTail.join('\n') : (o.logTail || '');
      if (tail) {
        parts.push(el('p', { class: 'small muted', text: `Last lines of the ${stepLabel(f.step).toLowerCase()} log:` }));
        parts.push(el('pre', { class: 'tail', tabindex: '0', 'aria-label': 'Log tail', text: tail }));
      }
    }
    box.className = `outcome callout ${ok ? 'ok' : 'bad'}`;
    box.replaceChildren(...parts);
    box.hidden = false;
  }

  function durationOf(o) {
    const h = state.history.find((e) => e.id === o.operation);
    if (!h) return '';
    const ms = parseTime(h.finishedAt) - parseTime(h.startedAt);
    return Number.isFinite(ms) ? ` in ${duration(ms)}` : '';
  }

  // The build log: lines are appended as they arrive, under a heading per
  // step; the panel is collapsed unless the user opens it.
  let logLines = 0;
  function resetLog() {
    logLines = 0;
    $('log').replaceChildren();
    $('log-panel').hidden = true;
    $('log-count').textContent = '';
  }

  function appendLog(op, step, line) {
    const pre = $('log');
    if (step !== op.lastLogStep) {
      op.lastLogStep = step;
      pre.append(el('span', { class: 'log-step', text: `── ${stepLabel(step)} ──\n` }));
    }
    pre.append(document.createTextNode(`${line}\n`));
    logLines++;
    if (logLines > MAX_LOG_LINES && pre.firstChild) pre.firstChild.remove();
    $('log-panel').hidden = false;
    $('log-count').textContent = `(${logLines} ${logLines === 1 ? 'line' : 'lines'})`;
    if (pre.scrollHeight - pre.scrollTop - pre.clientHeight < 60) pre.scrollTop = pre.scrollHeight;
  }

  function renderFailed() {
    const fv = (state.status && state.status.failedVersions) || [];
    if (!changed('failed', fv, inFlight())) return;
    $('failed').hidden = fv.length === 0;
    replace($('failed-list'), ...fv.map((f) => el('li', { class: 'row', dataset: { version: f.version } },
      el('div', { class: 'row-main' },
        el('div', { class: 'row-title' }, document.createTextNode(f.version), badge('Failed', 'bad')),
        el('p', { class: 'row-detail', text: `At ${stepLabel(f.step)}: ${reasonWords(f.reason)}.${f.message ? ` ${f.message}` : ''}` }),
        el('p', { class: 'row-detail' }, timeEl(f.failedAt))),
      el('button', {
        type: 'button', class: 'button secondary small', 'data-action': 'retry', 'data-version': f.version,
        'data-key': `retry-${f.version}`, disabled: inFlight(), text: `Retry ${f.version}`,
      }))));
  }

  function renderHistory() {
    const h = state.history;
    if (!changed('history', h)) return;
    $('history-empty').hidden = h.length > 0;
    replace($('history-list'), ...h.map((e) => {
      const [label, kind] = RESULTS[e.result] || [e.result, 'warn'];
      const ms = parseTime(e.finishedAt) - parseTime(e.startedAt);
      const details = [el('p', { class: 'row-detail' }, timeEl(e.finishedAt || e.startedAt),
        document.createTextNode(Number.isFinite(ms) ? ` · took ${duration(ms)}` : ''))];
      if (e.result !== 'Succeeded' && (e.failedStep || e.message)) {
        details.push(el('p', { class: 'row-detail', text: `${e.failedStep ? `At ${stepLabel(e.failedStep)}: ` : ''}${e.message || ''}` }));
      }
      // A rollback someone asked for reads as one, not as an update.
      const what = e.kind === 'Rollback' ? `Rolled back ${e.from} → ${e.to}` : (e.from ? `${e.from} → ${e.to}` : `Installed ${e.to}`);
      return el('li', { class: 'row', dataset: { id: e.id, result: e.result, kind: e.kind || 'Update' } },
        el('div', { class: 'row-main' },
          el('div', { class: 'row-title' }, document.createTextNode(what), badge(label, kind)),
          ...details));
    }));
  }

  function renderBackups() {
    const list = state.backups;
    if (!changed('backups', list, state.backupsError)) return;
    const empty = $('backups-empty');
    empty.textContent = state.backupsError ? `Cannot list the backups: ${state.backupsError}` : 'No backups yet.';
    empty.hidden = list.length > 0 && !state.backupsError;
    $('backups-table').hidden = list.length === 0;
    // Newest first, as the history.
    const rows = [...list].sort((a, b) => parseTime(b.createdAt) - parseTime(a.createdAt));
    replace($('backups-list'), ...rows.map((b) => el('tr', { dataset: { id: b.id } },
      el('td', {}, timeEl(b.createdAt),
        b.consistent ? null : el('span', { class: 'step-detail', text: 'copied while the app ran' })),
      el('td', { text: b.dataOf || '—' }),
      el('td', { text: b.takenBefore || '—' }),
      el('td', { class: 'num', text: Number.isFinite(b.files) ? String(b.files) : '—' }),
      el('td', { class: 'num', text: bytes(Number(b.bytes)) }),
      el('td', {}, el('code', { text: b.id || '' })))));
  }

  // ---- Markdown: release notes, rendered from escaped text ----

  // renderMarkdown turns the markdown GitHub keeps as a release body into
  // elements: headings, paragraphs, lists, code blocks, quotes, rules, and
  // inline code, emphasis and http(s) links. Anything else, raw HTML
  // included, is shown as the text it is.
  function renderMarkdown(src) {
    const root = document.createDocumentFragment();
    const lines = String(src).replace(/\r\n?/g, '\n').split('\n');
    let para = null;
    let list = null;
    const flush = () => {
      if (para) root.append(inline(el('p'), para.join(' ')));
      para = null;
    };
    for (let i = 0; i < lines.length;) {
      const line = lines[i];
      let m;
      if ((m = /^ {0,3}(`{3,}|~{3,})/.exec(line))) {
        flush(); list = null;
        const fence = m[1];
        const code = [];
        for (i++; i < lines.length && !lines[i].trimStart().startsWith(fence); i++) code.push(lines[i]);
        i++;
        root.append(el('pre', {}, el('code', { text: code.join('\n') })));
        continue;
      }
      if (/^\s*$/.test(line)) { flush(); list = null; i++; continue; }
      if ((m = /^ {0,3}(#{1,6})\s+(.*?)(?:\s+#+)?\s*$/.exec(line))) {
        flush(); list = null;
        root.append(inline(el(`h${Math.min(6, m[1].length + 3)}`), m[2]));
        i++;
        continue;
      }
      if (/^ {0,3}([-*_])(\s*\1){2,}\s*$/.test(line)) {
        flush(); list = null;
        root.append(el('hr'));
        i++;
        continue;
      }
      if ((m = /^ {0,3}([-*+]|\d{1,9}[.)])\s+(.*)$/.exec(line))) {
        flush();
        const ordered = /\d/.test(m[1]);
        if (!list || list.ordered !== ordered) {
          list = { ordered, node: el(ordered ? 'ol' : 'ul') };
          if (ordered && parseInt(m[1], 10) !== 1) list.node.setAttribute('start', String(parseInt(m[1], 10)));
          root.append(list.node);
        }
        let text = m[2];
        for (i++; i < lines.length && /^\s+\S/.test(lines[i]) && !/^\s*([-*+]|\d{1,9}[.)])\s+/.test(lines[i]); i++) {
          text += ` ${lines[i].trim()}`;
        }
        list.node.append(inline(el('li'), text));
        continue;
      }
      if (/^ {0,3}>/.test(line)) {
        flush(); list = null;
        const quote = [];
        for (; i < lines.length && /^ {0,3}>/.test(lines[i]); i++) quote.push(lines[i].replace(/^ {0,3}> ?/, ''));
        const q = el('blockquote');
        q.append(renderMarkdown(quote.join('\n')));
        root.append(q);
        continue;
      }
      if (list && /^\s+\S/.test(line)) {
        // A lazy continuation of the last item.
        const li = list.node.lastChild;
        inline(li, ` ${line.trim()}`);
        i++;
        continue;
      }
      list = null;
      (para = para || []).push(line.trim());
      i++;
    }
    flush();
    return root;
  }

  const INLINE = new RegExp([
    '(`+)([^`]|[^`][\\s\\S]*?[^`])\\1(?!`)', // 1,2: code
    '\\[([^\\]]+)\\]\\(\\s*<?([^\\s)>]+)>?(?:\\s+"[^"]*")?\\s*\\)', // 3,4: link
    '\\*\\*(\\S(?:[\\s\\S]*?\\S)?)\\*\\*', // 5: strong
    '__(\\S(?:[\\s\\S]*?\\S)?)__', // 6: strong
    '\\*(\\S(?:[^*]*?\\S)?)\\*', // 7: em
    '(?<![\\w])_(\\S(?:[^_]*?\\S)?)_(?![\\w])', // 8: em
    '<(https?://[^\\s>]+)>', // 9: autolink
    '(https?://[^\\s<]*[^\\s<.,:;"\')\\]])', // 10: bare URL
  ].join('|'), 'g');

  function inline(parent, text) {
    let last = 0;
    for (const m of text.matchAll(INLINE)) {
      if (m.index > last) parent.append(text.slice(last, m.index));
      if (m[1]) parent.append(el('code', { text: m[2] }));
      else if (m[3] !== undefined) parent.append(link(m[4], m[3]));
      else if (m[5] !== undefined || m[6] !== undefined) parent.append(inline(el('strong'), m[5] ?? m[6]));
      else if (m[7] !== undefined || m[8] !== undefined) parent.append(inline(el('em'), m[7] ?? m[8]));
      else parent.append(link(m[9] ?? m[10], null));
      last = m.index + m[0].length;
    }
    if (last < text.length) parent.append(text.slice(last));
    return parent;
  }

  function isWebURL(u) {
    if (typeof u !== 'string' || !u) return false;
    try {
      const url = new URL(u);
      return url.protocol === 'https:' || url.protocol === 'http:';
    } catch {
      return false;
    }
  }

  // link is an anchor for an absolute http(s) URL, and plain text for
  // anything else (javascript:, data:, relative paths).
  function link(href, label) {
    if (!isWebURL(href)) return label === null ? document.createTextNode(href) : inline(el('span'), label);
    const a = el('a', { href, target: '_blank', rel: 'noopener noreferrer' });
    if (label === null) a.textContent = href; else inline(a, label);
    return a;
  }

  // ---- Actions ----

  function setBusy(button, busy) {
    if (!button) return;
    button.disabled = busy;
    if (busy) button.setAttribute('aria-busy', 'true'); else button.removeAttribute('aria-busy');
  }

  // confirm shows the confirm dialog and resolves to true when the user
  // confirms.
  function confirmAction(title, paragraphs, okLabel, danger) {
    const dlg = $('confirm-dialog');
    $('confirm-h').textContent = title;
    replace($('confirm-body'), ...paragraphs.map((p) => el('p', { text: p })));
    const ok = $('confirm-ok');
    ok.textContent = okLabel;
    ok.className = `button ${danger ? 'danger' : 'primary'}`;
    return new Promise((resolve) => {
      const done = (yes) => {
        $('confirm-form').onsubmit = null;
        $('confirm-cancel').onclick = null;
        dlg.onclose = null;
        if (dlg.open) dlg.close();
        resolve(yes);
      };
      $('confirm-form').onsubmit = (ev) => { ev.preventDefault(); done(true); };
      $('confirm-cancel').onclick = () => done(false);
      dlg.onclose = () => done(false);
      dlg.showModal();
      ok.focus();
    });
  }

  async function checkForUpdates() {
    const button = $('check');
    setBusy(button, true);
    button.textContent = 'Checking…';
    try {
      await loadReleases(true);
    } catch (e) {
      if (e.status !== 401) state.checkError = e.message;
    } finally {
      setBusy(button, false);
      button.textContent = 'Check for updates';
    }
    render();
  }

  // refused handles a 409: the state is read afresh, then the page says
  // why in plain words. When desired.yaml changed since the generation the
  // request carried, someone else wrote it; otherwise the API's message
  // says what is in the way (nothing to roll back to, an unusable file).
  async function refused(e, sentGeneration) {
    await refresh({ releases: true });
    const now = state.desired || {};
    if (sentGeneration && now.generation && now.generation !== sentGeneration) {
      notify(`Nothing was changed: someone else changed desired.yaml while this page was open${now.version ? ` (it now asks for ${now.version})` : ''}. The page now shows the current state; look it over and try again.`);
    } else {
      notify(e.message);
    }
  }

  function generation() {
    return (state.desired && state.desired.generation) || '';
  }

  async function updateNow(version, button) {
    const st = state.status || {};
    const yes = await confirmAction(`Update to ${version}?`, [
      `Better-PaaS will back up your data, build ${version} and restart. The app is unavailable for a few seconds while it restarts.`,
      `If ${version} does not come up healthy, the update is rolled back to ${st.currentVersion || 'the running version'} automatically. Your data is never modified.`,
    ], 'Update now');
    if (!yes) return;
    if (await askFor('update', { version }, version, button)) {
      $('progress').scrollIntoView({ behavior: 'smooth', block: 'start' });
    }
  }

  function resetLogIfIdle() {
    if (!state.op) resetLog();
  }

  async function rollback(button) {
    const target = rollbackTarget();
    if (!target) return;
    const st = state.status || {};
    const yes = await confirmAction(`Roll back to ${target}?`, [
      `The updater pins ${target} in desired.yaml and installs it again in place of ${st.currentVersion || 'the running version'}, with a backup first and the same health check.`,
      'Your data is not restored from a backup: data/ stays as it is.',
    ], `Roll back to ${target}`, true);
    if (yes) await askFor('rollback', {}, target, button);
  }

  async function retry(version, button) {
    const f = ((state.status && state.status.failedVersions) || []).find((x) => x.version === version) || {};
    const yes = await confirmAction(`Retry ${version}?`, [
      `${version} failed at ${stepLabel(f.step)}: ${reasonWords(f.reason)}.`,
      `The updater tries to install it once more. If it fails again, it is rolled back again.`,
    ], `Retry ${version}`);
    if (yes) await askFor('retry', { version }, version, button);
  }

  // askFor posts a change of desired.yaml (update, rollback, retry) with the
  // generation the page shows, so a change someone else made since is
  // refused (409) rather than overwritten; then it waits for target to
  // run. It returns whether the API took the request.
  async function askFor(route, body, target, button) {
    setBusy(button, true);
    const gen = generation();
    try {
      await api('POST', route, { ...body, ifGeneration: gen });
      clearNotice();
      state.pendingTarget = target;
      state.pendingSince = Date.now();
      if (state.op && state.op.outcome) state.op = null;
      resetLogIfIdle();
      render();
      scheduleRefresh(false);
      return true;
    } catch (e) {
      if (e.status === 409) await refused(e, gen);
      else if (e.status !== 401) notify(e.message);
      return false;
    } finally {
      setBusy(button, false);
      render();
    }
  }

  // ---- Wiring ----

  function init() {
    $('token-form').addEventListener('submit', submitToken);
    $('token-cancel').addEventListener('click', () => $('token-dialog').close());
    $('sign-in').addEventListener('click', () => askToken(''));
    $('change-token').addEventListener('click', () => askToken(''));
    $('notice-close').addEventListener('click', clearNotice);
    $('check').addEventListener('click', checkForUpdates);
    $('rollback').addEventListener('click', (ev) => rollback(ev.currentTarget));
    // Buttons drawn from data are handled where they live.
    $('update-summary').addEventListener('click', (ev) => {
      const b = ev.target.closest('#update-now');
      if (b && !b.disabled) updateNow(b.dataset.version, b);
    });
    $('failed-list').addEventListener('click', (ev) => {
      const b = ev.target.closest('button[data-action="retry"]');
      if (b && !b.disabled) retry(b.dataset.version, b);
    });

    setInterval(refreshRelative, 15000);
    setInterval(tickTimers, 1000);
    // Events carry what an operation does; what the daemon learns between
    // operations (the running version after a resync, a backup pruned)
    // is read every few seconds while the page is in view, and at once
    // when it comes back into view.
    setInterval(() => { if (document.visibilityState === 'visible') refresh(); }, STATUS_EVERY_MS);
    document.addEventListener('visibilitychange', () => { if (document.visibilityState === 'visible') refresh(); });

    if (state.token) {
      // A token from earlier in this tab: check it before showing anything.
      loadStatus().then(start, (e) => {
        if (e.status !== 401) {
          $('signed-out').hidden = false;
          notify(e.message);
        }
      });
    } else {
      $('signed-out').hidden = false;
      askToken('');
    }
  }

  document.addEventListener('DOMContentLoaded', init);
})();
