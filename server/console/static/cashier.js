// The cashier page (server/console/cashier.py): amount, then a scan typed by the USB-keyboard scan box
// ending in Enter; pay, follow the order to its end, show and say the result. The words come from the
// server (the devices' own), this script only speaks them.
(() => {
  "use strict";
  const form = document.getElementById("cashier");
  if (!form) return;
  const $ = (id) => document.getElementById(id);
  const device = $("device"), amount = $("amount"), code = $("code");
  const result = $("result"), detail = $("detail"), spoken = $("spoken"), shown = $("amount-shown");
  const csrf = form.dataset.csrf;
  // The page's own words, in the reader's language (data-text-* of the form, translated by the server).
  const words = (name) => form.dataset["text" + name] || "";
  const WAIT_S = 20, RETRIES = 3, RETRY_MS = 1500;
  let amountFen = null;     // the checked amount, or null
  let amountCheck = null;   // the check under way of the typed amount (a promise of true / false)
  let busy = false;         // a payment is under way: further scans are refused

  form.addEventListener("submit", (event) => event.preventDefault());

  function say(text) {
    if (!text) return;
    spoken.textContent = text;               // also what tests and screen readers read
    if (window.speechSynthesis && window.SpeechSynthesisUtterance) {
      const utterance = new SpeechSynthesisUtterance(text);
      utterance.lang = "zh-CN";
      window.speechSynthesis.cancel();
      window.speechSynthesis.speak(utterance);
    }
  }

  function show(text, kind, more) {
    result.textContent = text;
    result.className = kind;
    detail.textContent = more || "";
  }

  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  async function answerOf(resp) {
    const type = resp.headers.get("Content-Type") || "";
    if (!type.startsWith("application/json")) {
      return {error: {code: "session", message: words("Session")}};
    }
    return resp.json();
  }

  // A request, sent again (the same body: the same order_no) when the network fails on the way.
  async function send(path, options) {
    for (let attempt = 1; ; attempt++) {
      try {
        const resp = await fetch(path, {credentials: "same-origin", ...options});
        return [resp.status, await answerOf(resp)];
      } catch (error) {
        if (attempt >= RETRIES) return [0, {error: {code: "network", message: words("Network")}}];
        await sleep(RETRY_MS);
      }
    }
  }

  const post = (path, body) => send(path, {method: "POST", body: JSON.stringify(body),
                                           headers: {"Content-Type": "application/json", "X-CSRF-Token": csrf}});

  function newOrderNo() {
    const random = new Uint8Array(6);
    crypto.getRandomValues(random);
    return "CS" + Date.now().toString(36).toUpperCase() + Array.from(random, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  async function checkAmount() {
    const [status, body] = await post("/console/cashier/amount", {device_id: device.value, amount: amount.value});
    if (status === 200) {
      amountFen = body.amount_fen;
      shown.textContent = body.money;
      return true;
    }
    amountFen = null;
    shown.textContent = "";
    show(body.error.message, "error");
    amount.focus();
    amount.select();
    return false;
  }

  function showOrder(body) {
    const order = body.order;
    const more = `${order.order_no} · ${order.money}` + (order.channel_name ? ` · ${order.channel_name}` : "");
    if (order.status === "PAYING") {
      show(words("Waiting"), "PAYING", more);
    } else {
      show(body.spoken, order.status, more);
    }
    say(body.spoken);
  }

  async function follow(deviceId, orderNo) {
    const query = `device_id=${encodeURIComponent(deviceId)}&order_no=${encodeURIComponent(orderNo)}&wait=${WAIT_S}`;
    for (;;) {
      const [status, body] = await send("/console/cashier/order?" + query, {method: "GET"});
      if (status === 200) {
        if (body.final) return body;
        continue;                            // still paying: ask again (the server holds each ask)
      }
      if (status !== 0) return body;         // refused (logged out, not found): show it
      await sleep(RETRY_MS);                 // no network: the order goes on at the server, keep asking
    }
  }

  async function pay(authCode) {
    busy = true;
    const deviceId = device.value, orderNo = newOrderNo();
    show(words("Paying").replace("%(amount)s", shown.textContent), "PAYING");
    try {
      let [status, body] = await post("/console/cashier/pay", {device_id: deviceId, amount: amount.value,
                                                              auth_code: authCode, order_no: orderNo});
      if (status === 200) {
        showOrder(body);
        if (!body.final) body = await follow(deviceId, orderNo);
        if (body.order) {
          showOrder(body);
          if (body.order.status === "SUCCESS") {
            // Paid: the next customer starts with a new amount.
            amount.value = "";
            shown.textContent = "";
            amountFen = null;
            amountCheck = null;
            amount.focus();
            return;
          }
        } else {
          show(body.error.message, "error");
          say(body.spoken);
        }
      } else {
        show(body.error.message, "error");
        say(body.spoken);
      }
      code.focus();                          // not paid: the customer shows a code again
    } finally {
      busy = false;
    }
  }

  amount.addEventListener("keydown", async (event) => {
    if (event.key !== "Enter") return;
    event.preventDefault();
    if (!device.value) { show(words("ChooseDevice"), "error"); device.focus(); return; }
    // The code field takes the keys at once: a quick scan must not land in the amount while it is checked.
    code.focus();
    const check = amountCheck = checkAmount();
    if (await check && check === amountCheck && !busy) {
      show("", "");
      say(form.dataset.sayShowCode);
    }
  });

  amount.addEventListener("input", () => { amountFen = null; amountCheck = null; shown.textContent = ""; });

  code.addEventListener("keydown", async (event) => {
    if (event.key !== "Enter") return;
    event.preventDefault();
    const authCode = code.value.trim();
    code.value = "";
    if (!authCode || busy) return;
    if (!device.value) { show(words("ChooseDevice"), "error"); device.focus(); return; }
    if (amountFen === null) {
      if (!amount.value.trim()) {
        show(words("AmountFirst"), "error");
        say(form.dataset.sayAmountFirst);
        amount.focus();
        return;
      }
      if (!(await (amountCheck || (amountCheck = checkAmount())))) return;
    }
    await pay(authCode);
  });

  device.addEventListener("change", () => {
    const url = new URL(window.location.href);
    url.searchParams.set("device", device.value);
    window.history.replaceState(null, "", url);
    amount.focus();
  });
})();
