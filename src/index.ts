/**
 * pusher-broadcast: real-time event broadcasting over the Pusher protocol.
 * Importing this module has no side effects and loads none of the CLI's dependencies.
 */
export { Broadcast } from './core/broadcast.js';
export type { BroadcastOptions, BroadcastResult, PreparedBroadcast, SendOptions, SendManyOptions } from './core/broadcast.js';
export {
  Channel,
  PrivateChannel,
  PresenceChannel,
  EncryptedPrivateChannel,
  channelType,
  requiresAuthorization,
  stripPrefix,
  isCacheChannel,
  channelKind,
} from './core/channels.js';
export type { ChannelLike, ChannelType, ChannelKind, ChannelAttributes } from './core/channels.js';
export { CanBroadcast, isEventClass } from './core/events.js';
export type { EventClass } from './core/events.js';
export { defineConfig, DEFAULT_AUTH_ROUTE, DEFAULT_EVENTS_DIR } from './config/schema.js';
export type {
  BroadcastConfig,
  BroadcastUser,
  ChannelRule,
  Connection,
  PusherConnection,
  LogConnection,
  NullConnection,
} from './config/schema.js';
export { loadConfig } from './config/load.js';
export { BroadcastError, UsageError, ValidationError, ConfigError, DeliveryError, ExitCode, ERROR_CODES } from './core/errors.js';
export type { ErrorCode } from './core/errors.js';
export { LIMITS, channelNameProblem, validateChannelName, validateEventName, validateSocketId } from './core/validation.js';
export { signChannel, presenceChannelData, sharedSecret } from './auth/sign.js';
export type { ChannelAuth, AuthCredentials } from './auth/sign.js';
export { channelAuthBody, verifyChannelAuth } from './auth/sign.js';
export type { AuthVerification } from './auth/sign.js';
export { createAuthHandler, DEFAULT_MAX_BODY_BYTES, DEFAULT_BODY_TIMEOUT_MS } from './auth/handler.js';
export type { AuthHandler, AuthHandlerOptions, AuthErrorInfo } from './auth/handler.js';
export type { AuthorizeResult, AuthorizeSuccess, AuthorizeFailure, AuthErrorBody, AuthErrorCode } from './auth/authorize.js';
export type { RouteDefinition, RoutesOptions } from './auth/routes.js';
export type { ChannelRuleOptions, ChannelRuleParams, ChannelRules, PatternParamNames } from './config/schema.js';
export { verifyWebhook, webhookSignature, parseWebhook } from './webhook/verify.js';
export type { Webhook, WebhookEvent, WebhookApp, WebhookRequest, WebhookVerification } from './webhook/verify.js';
export { createSubscriber } from './subscriber.js';
export type { Subscriber, SubscriberOptions, ReceivedEvent, Member, MemberChange, StateChange, CacheMiss, CloseCode } from './subscriber.js';
export { explainCloseCode } from './core/close-codes.js';
export type { CloseCodeInfo, CloseReconnect } from './core/close-codes.js';
export { readNdjsonLines, parseEventLine, formatEventLine, checkNdjson } from './bulk/ndjson.js';
export type { BulkEvent, LineRules, NdjsonLine, NdjsonCheck } from './bulk/ndjson.js';
export type { BulkResult, BulkProgress, BulkInput, BulkItem, EventInput, FailedSink } from './bulk/send.js';
export type { EventLogger } from './transport/index.js';
export { userAuthBody, verifyUserAuth, userChannel, USER_CHANNEL_PREFIX } from './auth/users.js';
export type { UserAuth, UserAuthInput, UserDataFields, UserMessageResult, TerminateResult } from './auth/users.js';
export { DEFAULT_USER_AUTH_ROUTE } from './auth/routes.js';
export type { UserRoutesOptions } from './auth/routes.js';
export { DEFAULT_WEBHOOK_MAX_AGE_MS } from './webhook/verify.js';
export type { VerifyWebhookOptions, WebhookRefusal } from './webhook/verify.js';
export type {
  PusherWebhookEvent,
  ChannelOccupiedEvent,
  ChannelVacatedEvent,
  MemberAddedEvent,
  MemberRemovedEvent,
  ClientEventWebhook,
  CacheMissEvent,
  SubscriptionCountEvent,
} from './webhook/events.js';
export { createWebhookHandler, createFetchWebhookHandler } from './webhook/handler.js';
export type { WebhookHandlerOptions, NodeWebhookHandlerOptions, WebhookContext, WebhookRejection } from './webhook/handler.js';
export { createFetchAuthHandler } from './auth/fetch-handler.js';
export type { FetchAuthHandler, FetchAuthHandlerOptions } from './auth/fetch-handler.js';
export { ECHO_AUTH_ROUTE } from './auth/routes.js';
export { socketIdFrom } from './auth/socket-id.js';
export type { SocketIdSource, HeaderRecord } from './auth/socket-id.js';
export { echoEventName, ECHO_NAMESPACE } from './core/echo.js';
