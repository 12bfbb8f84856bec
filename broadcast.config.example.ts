// Copy to broadcast.config.ts. Every value may also come from the environment (PUSHER_*, REVERB_*), which wins.
import { defineConfig } from 'pusher-broadcast';

export default defineConfig({
  // BROADCAST_CONNECTION or --connection override this.
  default: 'pusher',
  connections: {
    pusher: {
      driver: 'pusher',
      appId: process.env.PUSHER_APP_ID ?? 'app-id',
      key: process.env.PUSHER_APP_KEY ?? 'app-key',
      secret: process.env.PUSHER_APP_SECRET ?? 'app-secret',
      // Pusher Channels: set cluster. soketi / Reverb: set host, port and scheme.
      host: process.env.PUSHER_HOST ?? '127.0.0.1',
      port: Number(process.env.PUSHER_PORT ?? 6001),
      scheme: (process.env.PUSHER_SCHEME as 'http' | 'https' | undefined) ?? 'http',
      // Which server this is: its limits are checked before sending ('pusher': 10 KB, 'soketi': 100 KB, 'reverb').
      server: 'soketi',
      // Only where your server's limits differ from its defaults: maxPayloadKb: 200, limits: { channelNameLength: 250 },
    },
    log: { driver: 'log' },
  },
  // Event classes exported from these files can be emitted by name: broadcast emit OrderShipped --data '{...}'
  eventsDir: 'src/events',
  auth: { route: '/broadcasting/authorize', middleware: ['auth'] },
  channels: {
    // Laravel-style rules on the name without its prefix; {params} are passed in.
    'orders.{orderId}': (user, { orderId }) => String(user.id) === orderId,
    'chat.{roomId}': (user) => ({ id: user.id, name: user.name }),
  },
});
