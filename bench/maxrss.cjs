// Preloaded with `node -r bench/maxrss.cjs …`: reports the process's peak resident memory on exit, on fd 3
// when the benchmark opened it, else on stderr.
const fs = require('node:fs');
process.on('exit', () => {
  const line = `maxRSS=${process.resourceUsage().maxRSS}\n`;
  try {
    fs.writeSync(3, line);
  } catch {
    process.stderr.write(line);
  }
});
