// `require('pusher-broadcast')` lands here: the package is an ES module, and Node 20 cannot require() one.
throw Object.assign(
  new Error(
    "pusher-broadcast is an ES module and cannot be loaded with require(). Use `import { Broadcast } from 'pusher-broadcast'`, " +
      "or from CommonJS `const { Broadcast } = await import('pusher-broadcast')`.",
  ),
  { code: 'ERR_REQUIRE_ESM' },
);
