/**
 * Laravel Echo's event names. Echo's `listen('OrderShipped')` waits for `App\Events\OrderShipped`: it puts its
 * namespace (`App.Events` by default) in front of every name that does not start with a dot, and turns the
 * dots into backslashes, because Laravel names an event after its PHP class unless `broadcastAs()` says
 * otherwise. `listen('.order.shipped')` waits for `order.shipped`, as sent.
 */
import { UsageError } from './errors.js';

/** Echo's default namespace, as Laravel's event classes have it. */
export const ECHO_NAMESPACE = 'App\\Events';

const NAMESPACE = /^[A-Za-z_][A-Za-z0-9_]*(?:[.\\][A-Za-z_][A-Za-z0-9_]*)*$/;

/** Checks a namespace (`App\Events` or Echo's way of writing it, `App.Events`); throws a UsageError. */
export function checkEchoNamespace(namespace: unknown): string {
  if (typeof namespace !== 'string' || !NAMESPACE.test(namespace)) {
    throw new UsageError(`echoNamespace must be a PHP namespace such as "App\\\\Events" (or "App.Events"), not ${JSON.stringify(namespace)}`);
  }
  return namespace;
}

/**
 * The name an Echo listener written `listen(name)` receives, as Echo's EventFormatter makes it: a name
 * starting with `.` (or `\`) is used without that character; any other gets the namespace in front and its
 * dots turned into backslashes.
 *
 * `echoEventName('OrderShipped')` → `App\Events\OrderShipped`; `echoEventName('Orders.Shipped')` →
 * `App\Events\Orders\Shipped`; `echoEventName('.order.shipped')` → `order.shipped`.
 */
export function echoEventName(name: string, namespace: string = ECHO_NAMESPACE): string {
  if (name.startsWith('.') || name.startsWith('\\')) return name.slice(1);
  return `${namespace}.${name}`.replace(/\./g, '\\');
}
