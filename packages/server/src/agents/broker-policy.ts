/**
 * Topic permissions of the embedded agent broker (decision: docs/decisions.md, "Security").
 *
 * Every agent is an API key and owns one namespace: `rwc/agents/<apiKeyId>/…`. It may publish only
 * to concrete topics there (no wildcards, no `$SYS`, nothing that looks like a printer such as
 * `device/<serial>/report`) and subscribe only to filters that stay inside it
 * (`rwc/agents/<id>/#`, `rwc/agents/<id>/cmd/+`). `#`, `+/…` and other agents' topics are refused.
 */
export const AGENT_TOPIC_ROOT = 'rwc/agents';

export const agentTopicPrefix = (apiKeyId: string) => `${AGENT_TOPIC_ROOT}/${apiKeyId}/`;

function insideNamespace(apiKeyId: string, topic: string): boolean {
  // The id itself must be a plain level: MQTT wildcards or separators in it would widen the scope.
  if (!apiKeyId || /[#+/]/.test(apiKeyId)) return false;
  const prefix = agentTopicPrefix(apiKeyId);
  return topic.startsWith(prefix) && topic.length > prefix.length;
}

export const brokerPolicy = {
  mayPublish(apiKeyId: string, topic: string): boolean {
    return insideNamespace(apiKeyId, topic) && !/[#+]/.test(topic);
  },
  maySubscribe(apiKeyId: string, filter: string): boolean {
    // Shared subscriptions ($share/group/filter) would reach the same topics under another name.
    if (filter.startsWith('$')) return false;
    return insideNamespace(apiKeyId, filter);
  },
};
