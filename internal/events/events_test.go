package events_test

import (
	"testing"

	"github.com/daprshop/daprshop/internal/events"
	"github.com/daprshop/daprshop/tests/harness/repo"
)

// TestNamesAreTheResources ties the names the code uses to the resources
// that configure them: nothing in the services publishes by these names
// (the outbox does, as components/orderstore.yaml says), so a rename on
// one side only would break delivery with every unit test green.
func TestNamesAreTheResources(t *testing.T) {
	var pubsubs, outboxPubSubs, outboxTopics, subscribed []string
	for _, r := range repo.Components(t) {
		switch r.Kind {
		case "Component":
			for _, m := range r.Spec.Metadata {
				switch m.Name {
				case "outboxPublishPubsub":
					outboxPubSubs = append(outboxPubSubs, m.Value)
				case "outboxPublishTopic":
					outboxTopics = append(outboxTopics, m.Value)
				}
			}
			if r.Metadata.Name == events.PubSub {
				pubsubs = append(pubsubs, r.Metadata.Name)
			}
		case "Subscription":
			if r.Spec.PubSubName != events.PubSub {
				t.Errorf("subscription %s is on pub/sub %q, want events.PubSub (%q)", r.Metadata.Name, r.Spec.PubSubName, events.PubSub)
			}
			subscribed = append(subscribed, r.Spec.Topic)
		}
	}
	if len(pubsubs) != 1 {
		t.Errorf("components/ has %d components named events.PubSub (%q), want 1", len(pubsubs), events.PubSub)
	}
	if len(outboxPubSubs) != 1 || outboxPubSubs[0] != events.PubSub || len(outboxTopics) != 1 || outboxTopics[0] != events.TopicOrders {
		t.Errorf("the outbox publishes to pub/sub %q, topic %q; want events.PubSub (%q), events.TopicOrders (%q)",
			outboxPubSubs, outboxTopics, events.PubSub, events.TopicOrders)
	}
	found := false
	for _, topic := range subscribed {
		found = found || topic == events.TopicOrders
	}
	if !found {
		t.Errorf("no subscription to events.TopicOrders (%q): subscribed to %q", events.TopicOrders, subscribed)
	}
}
