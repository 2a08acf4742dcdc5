/**
 * What makes each codec call start from the same state, although a codec's QuickJS context is
 * reused from one call to the next (creating a context costs ~0.2 ms, four times a typical call):
 *
 * - The script is compiled as the body of a function (SCRIPT_PREFIX … SCRIPT_SUFFIX) that every
 *   call runs afresh: its top-level `var`, `let`, `function`… and whatever their closures hold
 *   are new at each call, as when TTS or ChirpStack evaluate the script for each uplink.
 * - Every built-in object (and the hidden ones: iterator and generator prototypes…) is frozen,
 *   and the global object's own properties made read-only, before any script runs: a script
 *   cannot keep anything in them (`Array.prototype.x = …` is ignored, or throws in strict code).
 * - The global object stays extensible, since sloppy scripts assign undeclared variables: what a
 *   call adds to it is deleted after the call. A call leaving something that cannot be deleted,
 *   the global object made non-extensible or given another prototype, or a Promise job queued,
 *   makes the host throw the context away (CodecSandbox).
 * - The clock is recvTime, and Math.random is a generator the host seeds for each call.
 */
export const SCRIPT_PREFIX = '(function () {';
/** `void 0`, not `undefined`: a script may declare its own `undefined`. */
export const SCRIPT_SUFFIX = `
;return [typeof decodeUplink === 'function' ? decodeUplink : void 0, typeof encodeDownlink === 'function' ? encodeDownlink : void 0];
})`;

/**
 * Evaluated once per context, before the codec's script. It answers `adopt(factory)`, which
 * freezes the script's function and answers the call function the host keeps, out of the
 * script's reach: `call(name, json, seed, time)` answers a string, 'R' + the result as JSON, 'E' + the
 * error described as JSON, or 'L' + a limit (stack, memory) described so, with '!' after the
 * first letter when the call left state that could not be removed. `name` 'probe' runs the top
 * level only and answers which codec functions it defines. Anything thrown out of `call` is the
 * deadline (or the cleanup failing).
 *
 * `call('decodeMany', uplinks)` decodes several uplinks, one call each, from the same state:
 * `uplinks` is 'hex fPort recvTime seed' per uplink, joined by ';', and the answer is their
 * answers joined by RESULT_SEPARATOR. It stops after an answer that is a limit or left state
 * (the host goes on in a fresh context); after the deadline stopped it, `call('progress')`
 * answers those it made (the host gives the next one a deadline of its own).
 */
/** Never in JSON text, which escapes every control character. */
export const RESULT_SEPARATOR = '\u0001';
export const PRELUDE = `(function () {
  'use strict';
  var G = globalThis;
  var parse = JSON.parse, stringify = JSON.stringify, String = G.String, TypeError = G.TypeError;
  var ownKeys = Reflect.ownKeys, apply = Reflect.apply, deleteProperty = Reflect.deleteProperty;
  var getPrototypeOf = Object.getPrototypeOf, getOwnPropertyDescriptor = Object.getOwnPropertyDescriptor;
  var defineProperty = Object.defineProperty, freeze = Object.freeze, isExtensible = Object.isExtensible, imul = Math.imul;
  var time = 0, seed = 0, RESULT_SEPARATOR = '${RESULT_SEPARATOR}';

  // Not a subclass: the real Date must not be reachable (its prototype's constructor is this one).
  var RealDate = G.Date, construct = Reflect.construct;
  var StillDate = function Date(year, month, day, hours, minutes, seconds, ms) {
    if (new.target === undefined) return String(new RealDate(time));
    return construct(RealDate, arguments.length ? arguments : [time], new.target);
  };
  StillDate.prototype = RealDate.prototype;
  RealDate.prototype.constructor = StillDate;
  StillDate.now = function now() { return time; };
  StillDate.parse = RealDate.parse;
  StillDate.UTC = RealDate.UTC;
  G.Date = StillDate;
  // mulberry32, seeded by the host for each call.
  defineProperty(Math, 'random', { value: function random() {
    seed = (seed + 0x6d2b79f5) | 0;
    var t = imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }, writable: true, configurable: true });

  var frozen = new Set([G]);
  function harden(roots) {
    var pending = roots.slice();
    while (pending.length) {
      var o = pending.pop();
      if (o === null || (typeof o !== 'object' && typeof o !== 'function') || frozen.has(o)) continue;
      frozen.add(o);
      freeze(o);
      pending.push(getPrototypeOf(o));
      var keys = ownKeys(o);
      for (var i = 0; i < keys.length; i++) {
        var d = getOwnPropertyDescriptor(o, keys[i]);
        if ('value' in d) pending.push(d.value);
        else pending.push(d.get, d.set);
      }
    }
  }
  var hidden = [function* () {}, async function () {}, async function* () {}, (function* () {})(), (async function* () {})(),
    [][Symbol.iterator](), new Map().entries(), new Set().values(), ''[Symbol.iterator](), /a/[Symbol.matchAll]('')];
  try { hidden.push([].values().map(function (x) { return x; }), Iterator.from({ next: function () { return { done: true }; } })); } catch (e) {}
  // Functions are left out of JSON; in a result they are an error, whose key their toJSON is given.
  var serializing = false;
  defineProperty(Function.prototype, 'toJSON', { get: function () {
    return serializing ? function (key) { throw new TypeError('the result is not JSON: it holds a function' + (key ? ' at "' + key + '"' : '')); } : undefined;
  }, configurable: false });
  // The built-ins move to the global object's prototype, read-only: scripts find them as before,
  // and what a call adds to the global object is seen by listing a handful of keys, not seventy.
  var builtIns = Object.create(getPrototypeOf(G)), setPrototypeOf = Object.setPrototypeOf, globals = ownKeys(G);
  for (var i = 0; i < globals.length; i++) {
    var d = getOwnPropertyDescriptor(G, globals[i]);
    if ('value' in d) hidden.push(d.value); else hidden.push(d.get, d.set);
    if (d.configurable) {
      if ('value' in d) d.writable = false;
      d.configurable = false;
      defineProperty(builtIns, globals[i], d);
      deleteProperty(G, globals[i]);
    }
  }
  setPrototypeOf(G, builtIns);
  hidden.push(builtIns);
  harden(hidden);
  var baseline = new Set(ownKeys(G));

  /** Removes what the call added to the global object; false if it left what cannot be removed. */
  function clean() {
    if (getPrototypeOf(G) !== builtIns || !isExtensible(G)) return false;
    var keys = ownKeys(G);
    if (keys.length === baseline.size) return true;
    for (var i = 0; i < keys.length; i++) if (!baseline.has(keys[i]) && !deleteProperty(G, keys[i])) return false;
    return true;
  }
  // The value of each hex digit by its character code (the host checked the payload is hex): no substring per byte.
  var DIGITS = [];
  for (var d = 0; d < 16; d++) DIGITS[(d < 10 ? 48 : 87) + d] = DIGITS[(d < 10 ? 48 : 55) + d] = d;
  function bytesOf(hex) {
    var bytes = new Array(hex.length >> 1);
    for (var i = 0; i < bytes.length; i++) bytes[i] = (DIGITS[hex.charCodeAt(2 * i)] << 4) | DIGITS[hex.charCodeAt(2 * i + 1)];
    return bytes;
  }
  function describe(error) {
    try {
      if (typeof error !== 'object' || error === null) return stringify({ value: String(error) });
      var name = error.name, stack = error.stack;
      return stringify({ name: typeof name === 'string' ? name : 'Error', message: String(error.message), stack: typeof stack === 'string' ? stack : '' });
    } catch (e) {
      return stringify({ value: 'a value that cannot be shown' });
    }
  }

  var InternalError = G.InternalError, made = [];
  function isLimit(error) {
    try {
      return error instanceof InternalError;
    } catch (e) {
      return false;
    }
  }

  return function adopt(factory) {
    harden([factory]);
    /** One call of a codec function (or the probe), from the same state. */
    function one(name, hex, fPort, json) {
      var kind = 'R', text;
      try {
        var functions = apply(factory, G, []);
        if (name === 'probe') {
          text = stringify([typeof functions[0] === 'function', typeof functions[1] === 'function']);
        } else {
          var f = functions[name === 'decodeUplink' ? 0 : 1];
          if (typeof f !== 'function') throw new TypeError(name + ' is not defined');
          // A RealDate made here has StillDate's prototype, as \`new StillDate(t)\` would give, without its indirection.
          var input = name === 'decodeUplink' ? { bytes: bytesOf(hex), fPort: fPort, recvTime: new RealDate(time) } : parse(json);
          var result = f(input);
          if (typeof result !== 'object' || result === null) throw new TypeError(name + ' must return an object, not ' + (result === null ? 'null' : typeof result));
          serializing = true;
          try {
            text = stringify(result);
          } finally {
            serializing = false;
          }
          if (typeof text !== 'string') throw new TypeError(name + ' must return an object that is JSON');
        }
      } catch (error) {
        kind = isLimit(error) ? 'L' : 'E';
        text = describe(error);
      }
      return kind + (clean() ? '' : '!') + text;
    }
    return function call(name, arg, callSeed, callTime) {
      if (name === 'progress') return made.join(RESULT_SEPARATOR);
      if (name !== 'decodeMany') {
        time = callTime;
        seed = callSeed;
        return one(name, '', 0, arg);
      }
      made = [];
      var uplinks = arg.split(';');
      for (var i = 0; i < uplinks.length; i++) {
        var fields = uplinks[i].split(' ');
        time = +fields[2];
        seed = +fields[3];
        var answer = one('decodeUplink', fields[0], +fields[1], '');
        made.push(answer);
        if (answer[0] === 'L' || answer[1] === '!') break;
      }
      return made.join(RESULT_SEPARATOR);
    };
  };
})()`;
