// broadcast console: the page. Plain DOM, no build step. Live updates arrive as server-sent events (batches of
// records); events are rendered in animation frames, at most PER_FRAME rows a frame, and at most KEEP are kept.
'use strict';
(() => {
  const KEEP = 1000;
  const PER_FRAME = 100;
  const PREVIEW_CHARS = 300;
  const token = new URLSearchParams(location.search).get('token') || '';
  const $ = (id) => document.getElementById(id);
  const el = (tag, cls, text) => {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined) node.textContent = text;
    return node;
  };

  const ui = {
    where: $('where'), state: $('state'), checks: $('checks'), rerun: $('rerun'),
    channelFilter: $('channel-filter'), channelList: $('channel-list'), channelEmpty: $('channel-empty'), channelCount: $('channel-count'), poll: $('poll'),
    eventFilter: $('event-filter'), eventChannel: $('event-channel'), pause: $('pause'), clear: $('clear'),
    events: $('events'), eventsEmpty: $('events-empty'), eventCount: $('event-count'), streamStatus: $('stream-status'),
    composer: $('composer'), readonlyNote: $('readonly-note'), compose: $('compose'), cClass: $('c-class'), cChannels: $('c-channels'),
    cEvent: $('c-event'), cData: $('c-data'), cCheck: $('c-check'), cSend: $('c-send'), cAnswer: $('c-answer'),
    mChannel: $('m-channel'), members: $('members'), memberCount: $('member-count'), membersNote: $('members-note'),
    sign: $('sign'), sChannel: $('s-channel'), sSocket: $('s-socket'), sUser: $('s-user'), sInfo: $('s-info'), sAnswer: $('s-answer'),
  };

  const model = {
    state: null,
    channels: [],
    channelsKey: '',
    selected: '',
    streamUp: false,
    streamClosed: false,
    connection: 'idle',
    poll: { ok: false },
    warning: '',
    received: 0,
    dropped: 0,
    paused: false,
    queue: [],
    held: [],
    frame: 0,
    memberIds: new Map(),
  };

  // ---- Talking to the console's server: the token goes with every request.
  async function api(path, body) {
    const init = { headers: { 'x-console-token': token }, cache: 'no-store' };
    if (body !== undefined) {
      init.method = 'POST';
      init.headers['content-type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    try {
      const res = await fetch(path, init);
      const json = await res.json().catch(() => null);
      return json || { ok: false, error: { message: `HTTP ${res.status}` } };
    } catch (error) {
      return { ok: false, error: { message: `The console is not reachable (${error.message})` } };
    }
  }

  function connect() {
    const source = new EventSource(`api/stream?token=${encodeURIComponent(token)}`);
    source.onopen = () => {
      model.streamUp = true;
      renderState();
    };
    source.onerror = () => {
      model.streamUp = false;
      // A refused stream (the console restarted with a new token) is not retried by the browser.
      model.streamClosed = source.readyState === EventSource.CLOSED;
      renderState();
    };
    source.onmessage = (message) => {
      let updates;
      try {
        updates = JSON.parse(message.data);
      } catch {
        return;
      }
      for (const update of updates) apply(update);
      renderState();
      renderStreamStatus();
    };
  }

  function apply(u) {
    switch (u.type) {
      case 'state':
        model.state = u;
        model.connection = u.connectionState;
        model.poll = u.poll;
        model.warning = u.warnings[u.warnings.length - 1] || '';
        renderWhere();
        renderChecks(u.checks);
        renderComposerSetup();
        setChannels(u.channels);
        break;
      case 'checks':
        if (model.state) model.state.checks = u.checks;
        renderChecks(u.checks);
        break;
      case 'channels':
        model.poll = { ok: true, at: u.at, latencyMs: u.latencyMs };
        setChannels(u.channels);
        break;
      case 'error':
        if (u.source === 'api') model.poll = { ok: false, at: u.at, error: u.message };
        else model.warning = u.message;
        renderPoll();
        break;
      case 'connection':
        model.connection = u.state;
        break;
      case 'warning':
        model.warning = u.message;
        renderPoll();
        break;
      case 'event':
        model.received++;
        if (model.paused) {
          model.held.push(u);
          if (model.held.length > KEEP) model.held.splice(0, model.held.length - KEEP);
        } else {
          enqueue(u);
        }
        break;
      case 'member':
        memberChange(u);
        break;
      case 'channel':
        if (u.channel === ui.mChannel.value) loadMembers();
        break;
      case 'dropped':
        model.dropped += u.count;
        break;
    }
  }

  // ---- Header: where, overall state, checks.
  function renderWhere() {
    const c = model.state.connection;
    ui.where.textContent = `"${c.name}" · ${c.url} · app ${c.appId} · key ${c.key}${model.state.readOnly ? ' · read-only' : ''}`;
  }

  function renderState() {
    let text = 'Live';
    let cls = 'pill-ok';
    if (!model.streamUp) [text, cls] = [model.streamClosed ? 'Console stopped: start it again and open its new address' : 'Console not answering: reconnecting…', 'pill-bad'];
    else if (!model.state) [text, cls] = ['Connecting…', 'pill-wait'];
    else if (!model.poll.ok && model.poll.error) [text, cls] = ['Server unreachable', 'pill-bad'];
    else if (model.connection === 'connecting' || model.connection === 'initialized') [text, cls] = ['Connecting…', 'pill-wait'];
    else if (model.connection !== 'connected' && model.connection !== 'idle') [text, cls] = [`WebSocket ${model.connection}`, 'pill-bad'];
    if (ui.state.textContent !== text) ui.state.textContent = text;
    ui.state.className = `pill ${cls}`;
  }

  function renderChecks(checks) {
    ui.checks.replaceChildren(
      ...checks.map((c) => {
        const li = el('li', c.status, c.name);
        if (c.latencyMs !== undefined && c.status === 'pass') li.append(el('span', 'ms', `${c.latencyMs} ms`));
        li.title = c.detail + (c.hint ? `\n${c.hint}` : '');
        li.setAttribute('aria-label', `${c.name}: ${c.status}. ${c.detail}${c.latencyMs !== undefined ? ` (${c.latencyMs} ms)` : ''}`);
        return li;
      }),
    );
    if (checks.length === 0) ui.checks.append(el('li', 'skip', 'checks running…'));
  }

  ui.rerun.addEventListener('click', () => {
    renderChecks([]);
    api('api/checks', {});
  });

  // ---- Channels.
  const FOLLOW_TEXT = {
    following: 'following',
    subscribing: 'subscribing…',
    limit: 'not followed: channel limit reached',
    'no-master-key': 'not followed: no encryption master key',
    skipped: 'not followed',
    refused: 'not followed: subscription refused',
    disconnected: 'not followed: no WebSocket',
  };

  function setChannels(channels) {
    const key = JSON.stringify(channels);
    if (key === model.channelsKey) return renderPoll();
    model.channelsKey = key;
    model.channels = channels;
    renderChannels();
    renderChannelOptions();
    renderPoll();
  }

  function renderChannels() {
    const prefix = ui.channelFilter.value.trim();
    const shown = model.channels.filter((c) => c.name.startsWith(prefix));
    ui.channelCount.textContent = String(model.channels.length);
    ui.channelList.replaceChildren(
      ...shown.map((c) => {
        const button = el('button');
        button.type = 'button';
        button.dataset.channel = c.name;
        button.setAttribute('aria-pressed', String(c.name === model.selected));
        const counts = [];
        if (c.subscriptionCount !== undefined) counts.push(`${c.subscriptionCount} sub${c.subscriptionCount === 1 ? '' : 's'}`);
        if (c.userCount !== undefined) counts.push(`${c.userCount} user${c.userCount === 1 ? '' : 's'}`);
        const meta = el('span', 'meta');
        meta.append(el('span', `tag ${c.type}`, c.type), el('span', c.follow === 'following' ? 'follow' : 'follow off', FOLLOW_TEXT[c.follow] || c.follow), el('span', 'counts', counts.join(' · ')));
        button.append(el('span', 'name', c.name), meta);
        const li = el('li');
        li.append(button);
        return li;
      }),
    );
    ui.channelEmpty.hidden = shown.length > 0;
    ui.channelEmpty.textContent = model.channels.length === 0 ? 'No occupied channels yet.' : `No channel starts with “${prefix}”.`;
  }

  function renderChannelOptions() {
    const names = model.channels.map((c) => c.name);
    fillSelect(ui.eventChannel, names, 'All channels');
    fillSelect(ui.mChannel, names.filter((n) => n.startsWith('presence-')), 'Choose a presence channel');
  }

  function fillSelect(select, names, none) {
    const current = select.value;
    const all = current && !names.includes(current) ? [current, ...names] : names;
    const key = all.join('\n');
    if (select.dataset.key === key) return;
    select.dataset.key = key;
    select.replaceChildren(el('option', '', none), ...all.map((n) => el('option', '', n)));
    select.options[0].value = '';
    select.value = current;
  }

  function renderPoll() {
    const s = model.state;
    if (!s) return;
    const following = model.channels.filter((c) => c.follow === 'following').length;
    const when = model.poll.at ? new Date(model.poll.at).toLocaleTimeString() : '—';
    let text = model.poll.ok
      ? `Polled at ${when} in ${model.poll.latencyMs} ms, every ${s.intervalMs / 1000} s · following ${following} (at most ${s.maxChannels})`
      : model.poll.error ? `Poll failed at ${when}: ${model.poll.error}` : 'Waiting for the first poll…';
    if (model.warning) text += ` · ⚠ ${model.warning}`;
    ui.poll.textContent = text;
  }

  ui.channelFilter.addEventListener('input', renderChannels);
  ui.channelList.addEventListener('click', (e) => {
    const button = e.target.closest('button[data-channel]');
    if (!button) return;
    const name = button.dataset.channel;
    model.selected = model.selected === name ? '' : name;
    renderChannels();
    renderChannelOptions();
    ui.eventChannel.value = model.selected;
    applyFilter();
    if (name.startsWith('presence-') && model.selected) {
      ui.mChannel.value = name;
      loadMembers();
    }
    if (model.selected && !ui.cChannels.value && !ui.cClass.value) ui.cChannels.value = name;
  });

  // ---- Events: queued as they arrive, rendered a frame at a time.
  function enqueue(e) {
    model.queue.push(e);
    if (model.queue.length > KEEP) model.queue.splice(0, model.queue.length - KEEP);
    if (!model.frame) model.frame = requestAnimationFrame(renderFrame);
  }

  function renderFrame() {
    model.frame = 0;
    const batch = model.queue.splice(0, PER_FRAME);
    const fragment = document.createDocumentFragment();
    const fresh = batch.length <= 3;
    for (let i = batch.length - 1; i >= 0; i--) fragment.append(eventRow(batch[i], fresh));
    ui.events.prepend(fragment);
    let extra = ui.events.childElementCount - KEEP;
    while (extra-- > 0) ui.events.lastElementChild.remove();
    ui.eventsEmpty.hidden = ui.events.childElementCount > 0;
    ui.eventCount.textContent = String(ui.events.childElementCount);
    renderStreamStatus();
    if (model.queue.length) model.frame = requestAnimationFrame(renderFrame);
  }

  function clock(ms) {
    const d = new Date(ms);
    const pad = (n, w = 2) => String(n).padStart(w, '0');
    return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
  }

  function eventRow(e, fresh) {
    const li = el('li', fresh ? 'fresh' : '');
    const details = el('details');
    const summary = el('summary');
    const raw = typeof e.data === 'string' ? e.data : JSON.stringify(e.data);
    const preview = raw === undefined ? '' : raw.length > PREVIEW_CHARS ? `${raw.slice(0, PREVIEW_CHARS)}…` : raw;
    const time = el('time', '', clock(e.receivedAt));
    time.dateTime = new Date(e.receivedAt).toISOString();
    const channel = el('span', 'ch', e.channel);
    const name = el('span', 'ev', e.event);
    channel.title = e.channel;
    name.title = e.event;
    summary.append(time, channel, name, el('code', 'preview', preview));
    details.append(summary);
    li.append(details);
    li.record = e;
    li.search = `${e.channel}\n${e.event}\n${preview}`.toLowerCase();
    li.hidden = !matches(li);
    return li;
  }

  // The pretty-printed data is built when a row is opened, not for every row.
  ui.events.addEventListener('toggle', (e) => {
    const details = e.target;
    if (!details.open || details.querySelector('pre')) return;
    const data = details.parentElement.record.data;
    details.append(el('pre', '', typeof data === 'string' ? data : JSON.stringify(data, null, 2)));
  }, true);

  function matches(li) {
    const channel = ui.eventChannel.value;
    const text = ui.eventFilter.value.trim().toLowerCase();
    return (!channel || li.record.channel === channel) && (!text || li.search.includes(text));
  }

  function applyFilter() {
    for (const li of ui.events.children) li.hidden = !matches(li);
    renderStreamStatus();
  }

  function renderStreamStatus() {
    const parts = [`${model.received} received`];
    if (model.received > KEEP) parts.push(`the newest ${KEEP} kept`);
    if (model.paused) parts.push(`paused: ${model.held.length} new held`);
    if (model.dropped) parts.push(`${model.dropped} dropped (the page could not keep up)`);
    if (ui.eventFilter.value || ui.eventChannel.value) {
      let visible = 0;
      for (const li of ui.events.children) if (!li.hidden) visible++;
      parts.push(`${visible} shown by the filter`);
    }
    const text = parts.join(' · ');
    if (ui.streamStatus.textContent !== text) ui.streamStatus.textContent = text;
  }

  let filterTimer = 0;
  ui.eventFilter.addEventListener('input', () => {
    clearTimeout(filterTimer);
    filterTimer = setTimeout(applyFilter, 120);
  });
  ui.eventChannel.addEventListener('change', () => {
    model.selected = ui.eventChannel.value;
    renderChannels();
    applyFilter();
  });
  ui.pause.addEventListener('click', () => {
    model.paused = !model.paused;
    ui.pause.setAttribute('aria-pressed', String(model.paused));
    ui.pause.textContent = model.paused ? 'Resume' : 'Pause';
    if (!model.paused) for (const e of model.held.splice(0)) enqueue(e);
    renderStreamStatus();
  });
  ui.clear.addEventListener('click', () => {
    ui.events.replaceChildren();
    model.queue.length = 0;
    model.held.length = 0;
    ui.eventsEmpty.hidden = false;
    ui.eventCount.textContent = '0';
    renderStreamStatus();
  });

  // ---- Presence members of the chosen channel.
  let membersRequest = 0;
  async function loadMembers() {
    const channel = ui.mChannel.value;
    const request = ++membersRequest;
    if (!channel) {
      model.memberIds.clear();
      ui.members.replaceChildren();
      ui.memberCount.textContent = '0';
      ui.membersNote.textContent = '';
      return;
    }
    const answer = await api(`api/members?channel=${encodeURIComponent(channel)}`);
    if (request !== membersRequest) return;
    if (!answer.ok) {
      ui.membersNote.textContent = answer.error.message;
      return;
    }
    model.memberIds.clear();
    ui.members.replaceChildren(...answer.members.map((m) => memberRow(m, false)));
    ui.memberCount.textContent = String(answer.members.length);
    ui.membersNote.textContent = answer.live
      ? `Live. This console is a member too (${model.state ? model.state.userId : 'itself'}), not listed.`
      : 'From the HTTP API (ids only): the channel is not followed.';
  }

  function memberRow(m, fresh) {
    const li = el('li', fresh ? 'fresh' : '');
    li.append(el('span', 'id', m.id));
    if (m.info !== undefined) li.append(el('span', 'info', JSON.stringify(m.info)));
    model.memberIds.set(m.id, li);
    return li;
  }

  function memberChange(u) {
    if (u.channel !== ui.mChannel.value) return;
    const existing = model.memberIds.get(u.member.id);
    if (u.action === 'added' && !existing) ui.members.append(memberRow(u.member, true));
    if (u.action === 'removed' && existing) {
      existing.remove();
      model.memberIds.delete(u.member.id);
    }
    ui.memberCount.textContent = String(model.memberIds.size);
  }

  ui.mChannel.addEventListener('change', loadMembers);

  // ---- Composer: JSON checked here as you type; the event checked by the server as `emit` would.
  function renderComposerSetup() {
    const s = model.state;
    ui.composer.hidden = s.readOnly;
    ui.readonlyNote.hidden = !s.readOnly;
    const current = ui.cClass.value;
    ui.cClass.replaceChildren(el('option', '', 'None: channels and event name below'), ...s.events.map((e) => {
      const option = el('option', '', `${e.name}${e.as && e.as !== e.name ? ` (as ${e.as})` : ''} → ${e.patterns.join(', ')}`);
      option.value = e.name;
      return option;
    }));
    ui.cClass.options[0].value = '';
    ui.cClass.value = current;
    ui.cClass.disabled = s.events.length === 0;
  }

  function composeRequest() {
    return ui.cClass.value
      ? { eventClass: ui.cClass.value, data: ui.cData.value }
      : { channels: ui.cChannels.value, event: ui.cEvent.value, data: ui.cData.value };
  }

  function verdict(text, ok) {
    ui.cCheck.textContent = text;
    ui.cCheck.className = `verdict ${ok ? 'ok' : 'bad'}`;
  }

  function describe(answer) {
    const channels = answer.channels.length === 1 ? answer.channels[0] : `${answer.channels.length} channels`;
    return `${answer.event} → ${channels} · ${answer.bytes.toLocaleString()} of ${answer.maxBytes.toLocaleString()} bytes · ${answer.requests} request${answer.requests === 1 ? '' : 's'}`;
  }

  let checkTimer = 0;
  let checkSeq = 0;
  function scheduleCheck() {
    clearTimeout(checkTimer);
    const text = ui.cData.value;
    try {
      if (text.trim() !== '') JSON.parse(text);
      ui.cData.removeAttribute('aria-invalid');
    } catch (error) {
      ui.cData.setAttribute('aria-invalid', 'true');
      ui.cSend.disabled = true;
      verdict(`JSON: ${error.message}`, false);
      return;
    }
    ui.cSend.disabled = false;
    if (!ui.cClass.value && (!ui.cChannels.value.trim() || !ui.cEvent.value.trim())) {
      verdict('', true);
      return;
    }
    checkTimer = setTimeout(async () => {
      const seq = ++checkSeq;
      const answer = await api('api/check', composeRequest());
      if (seq !== checkSeq) return;
      if (answer.ok) verdict(`✓ ${describe(answer)}`, true);
      else verdict(answer.error.message, false);
    }, 200);
  }

  for (const input of [ui.cChannels, ui.cEvent, ui.cData]) input.addEventListener('input', scheduleCheck);
  ui.cClass.addEventListener('change', () => {
    const chosen = model.state.events.find((e) => e.name === ui.cClass.value);
    ui.cChannels.readOnly = ui.cEvent.readOnly = Boolean(chosen);
    if (chosen) {
      ui.cChannels.value = chosen.patterns.join(', ');
      ui.cEvent.value = chosen.as || chosen.name;
    }
    scheduleCheck();
  });

  ui.compose.addEventListener('submit', async (e) => {
    e.preventDefault();
    ui.cSend.disabled = true;
    const answer = await api('api/send', composeRequest());
    ui.cSend.disabled = false;
    ui.cAnswer.hidden = false;
    ui.cAnswer.className = `answer ${answer.ok ? 'ok' : 'bad'}`;
    ui.cAnswer.textContent = answer.ok
      ? `Sent at ${clock(Date.now())}: ${describe(answer)}`
      : `Not sent: ${answer.error.message}${answer.error.hint ? `\n${answer.error.hint}` : ''}`;
  });

  // ---- Signer: the body the auth route would return (as `broadcast auth:sign` prints it).
  ui.sign.addEventListener('submit', async (e) => {
    e.preventDefault();
    const answer = await api('api/sign', { channel: ui.sChannel.value, socketId: ui.sSocket.value, user: ui.sUser.value, userInfo: ui.sInfo.value });
    ui.sAnswer.hidden = false;
    ui.sAnswer.className = `answer ${answer.ok ? 'ok' : 'bad'}`;
    ui.sAnswer.textContent = answer.ok
      ? `${JSON.stringify(answer.body, null, 2)}\n\nsocket id ${answer.socketId}${answer.socketIdGenerated ? ' (generated)' : ''}`
      : answer.error.message;
  });

  renderChecks([]);
  connect();
})();
