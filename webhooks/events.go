package webhooks

//lint:file-ignore U1000 the _msgpack fields are msgpack's as_array markers, read by reflection

import (
	"fmt"

	synclog "github.com/or3/syncd/log"
)

// Domain is the system-event domain this package folds; the daemon
// registers Fold for it on its log.FolderMux.
const Domain = "webhook"

// Event types. Registrations and deliveries carry their whole record, so
// each fold is a plain write, deterministic on replay; a state change of a
// delivery carries only the mutable part (not the payload again).
const (
	evPut            = "webhook.put"             // a registration, created or changed (health too)
	evDelete         = "webhook.delete"          // a registration and all its delivery logs
	evDeliveryPut    = "webhook.delivery"        // a new delivery log
	evDeliveryState  = "webhook.delivery.state"  // a delivery's status, claim, outcome, retry time
	evDeliveryDelete = "webhook.delivery.delete" // delivery logs purged or deleted
)

type deleteBody struct {
	_msgpack struct{} `msgpack:",as_array"`
	ID       string
}

type deliveryStateBody struct {
	_msgpack  struct{} `msgpack:",as_array"`
	WebhookID string
	ID        string
	State     DeliveryState
}

type deliveryRef struct {
	_msgpack  struct{} `msgpack:",as_array"`
	WebhookID string
	ID        string
}

type deliveryDeleteBody struct {
	_msgpack struct{} `msgpack:",as_array"`
	Refs     []deliveryRef
}

// Fold applies one webhook event to the state in b (replay and live
// writes use it alike).
func Fold(b *synclog.Batch, seq uint64, ev *synclog.SystemEvent) error {
	key := synclog.SystemKey(seq)
	switch ev.Type {
	case evPut:
		var w Webhook
		if err := synclog.Decode(key, ev.Body, &w); err != nil {
			return err
		}
		return b.Set(webhookKey(w.ID), ev.Body) // the record is the body
	case evDelete:
		var body deleteBody
		if err := synclog.Decode(key, ev.Body, &body); err != nil {
			return err
		}
		if err := b.Delete(webhookKey(body.ID)); err != nil {
			return err
		}
		p := deliveryPrefix(body.ID)
		return b.DeleteRange(p, synclog.PrefixEnd(p))
	case evDeliveryPut:
		var d Delivery
		if err := synclog.Decode(key, ev.Body, &d); err != nil {
			return err
		}
		return b.SetRecord(deliveryKey(d.WebhookID, d.ID), d.stateRecord(seq))
	case evDeliveryState:
		var body deliveryStateBody
		if err := synclog.Decode(key, ev.Body, &body); err != nil {
			return err
		}
		dk := deliveryKey(body.WebhookID, body.ID)
		var d Delivery
		found, err := synclog.GetRecord(b, dk, &d)
		if err != nil || !found {
			return err // a log deleted since: nothing to change
		}
		d.State = body.State
		return b.SetRecord(dk, &d)
	case evDeliveryDelete:
		var body deliveryDeleteBody
		if err := synclog.Decode(key, ev.Body, &body); err != nil {
			return err
		}
		for _, r := range body.Refs {
			if err := b.Delete(deliveryKey(r.WebhookID, r.ID)); err != nil {
				return err
			}
		}
		return nil
	}
	return fmt.Errorf("webhooks: unknown system event %q", ev.Type)
}

// Register registers Fold for Domain on mux.
func Register(mux *synclog.FolderMux) { mux.Handle(Domain, Fold) }
