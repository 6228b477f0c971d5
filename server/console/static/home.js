// The home page and the cashier page (server/console/home.py, templates/_latest_payments.html): new payments from /console/home/live (server-sent events)
// are added to the latest payments and today's figures, and said aloud once the user turned the sound on
// (browsers let a page speak only after a click). The words and money come from the server.
(() => {
  "use strict";
  const live = document.getElementById("live");
  if (!live || !window.EventSource) return;
  const today = document.getElementById("today");
  const rows = document.getElementById("latest-rows");
  const spoken = document.getElementById("live-spoken");
  const sound = document.getElementById("sound");
  const $ = (testid) => document.querySelector(`[data-testid="${testid}"]`);
  let soundOn = false;
  const seen = new Set(Array.from(rows.querySelectorAll("tr[data-order]"), (tr) => tr.dataset.order));
  const yuan = (fen) => "¥" + (fen / 100).toLocaleString("en-US", {minimumFractionDigits: 2, maximumFractionDigits: 2});

  sound.addEventListener("click", () => {
    soundOn = !soundOn;
    sound.textContent = soundOn ? sound.dataset.on : sound.dataset.off;
    sound.setAttribute("aria-pressed", String(soundOn));
  });

  function say(text) {
    spoken.textContent = text;
    if (soundOn && window.speechSynthesis && window.SpeechSynthesisUtterance) {
      const utterance = new SpeechSynthesisUtterance(text);
      utterance.lang = "zh-CN";
      window.speechSynthesis.speak(utterance);
    }
  }

  function cell(label, text, className) {
    const td = document.createElement("td");
    td.dataset.label = label;
    td.textContent = text;
    if (className) td.className = className;
    return td;
  }

  function paid(payment) {
    if (seen.has(payment.order_id)) return;
    seen.add(payment.order_id);
    const none = rows.querySelector("tr.none");
    if (none) none.remove();
    const headers = Array.from(document.querySelectorAll("[data-testid=latest-payments] thead th"), (th) => th.textContent);
    const tr = document.createElement("tr");
    tr.dataset.order = payment.order_id;
    tr.className = "fresh";
    const amount = cell(headers[2], "", "num");
    const link = document.createElement("a");
    link.href = "/console/orders/" + encodeURIComponent(payment.order_id);
    link.textContent = payment.amount;
    amount.appendChild(link);
    tr.append(cell(headers[0], payment.time), cell(headers[1], payment.channel_name), amount,
              cell(headers[3], payment.store_name));
    rows.prepend(tr);
    while (rows.children.length > 20) rows.lastElementChild.remove();
    say(payment.speech);
    if (!today) return;                      // the cashier page has the list only
    const paidFen = Number(today.dataset.paidFen) + payment.amount_fen;
    const count = Number(today.dataset.paidCount) + 1;
    today.dataset.paidFen = paidFen;
    today.dataset.paidCount = count;
    $("today-net").textContent = yuan(paidFen - Number(today.dataset.refundFen));
    $("today-paid").textContent = yuan(paidFen);
    $("today-count").textContent = String(count);
    $("today-average").textContent = yuan(Math.round(paidFen / count));
  }

  // The stream ends every 25 s; EventSource comes back by itself with the last event's id.
  const source = new EventSource(`${live.dataset.url}?after=${live.dataset.after}&hold=25`);
  source.addEventListener("paid", (event) => paid(JSON.parse(event.data)));
})();
