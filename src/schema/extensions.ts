/**
 * Field extensions the schema declares for the layers that serve it.
 *
 * `RESULT_IGNORES_ARGUMENTS` — on a subscription field: its arguments only
 * choose the stream (which customer, replay after which cursor) and its
 * `resolve` does not read them, so subscribers that differ only in those
 * arguments may share each event's result (http/shared-subscriptions.ts).
 */
export const RESULT_IGNORES_ARGUMENTS = 'resultIgnoresArguments';
