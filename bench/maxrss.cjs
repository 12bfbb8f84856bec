// Preloaded with `node -r bench/maxrss.cjs …`: reports the process's peak resident memory and the CPU time it
// used (user + system, ms) on exit, on fd 3 when the benchmark opened it, else on stderr.
const fs = require('node:fs');
process.on('exit', () => {
  const usage = process.resourceUsage();
  const line = `maxRSS=${usage.maxRSS} cpuMs=${Math.round((usage.userCPUTime + usage.systemCPUTime) / 1000)}\n`;
  try {
    fs.writeSync(3, line);
  } catch {
    process.stderr.write(line);
  }
});
