//! The send-and-wake sink: events go down an unbounded channel, and every event sent is
//! followed by a call to the reader's waker (the window passes `ctx.request_repaint`). The
//! engine and the desktop backend both send through it.

use std::sync::Arc;

use tokio::sync::mpsc;

/// Called after every event is sent, to wake whoever reads them (e.g. `request_repaint`).
pub type Waker = Arc<dyn Fn() + Send + Sync>;

/// Sends events and wakes the reader after each.
pub struct Sink<E> {
    events: mpsc::UnboundedSender<E>,
    waker: Waker,
}

// Not derived: a derive would ask for `E: Clone`.
impl<E> Clone for Sink<E> {
    fn clone(&self) -> Self {
        Self {
            events: self.events.clone(),
            waker: self.waker.clone(),
        }
    }
}

impl<E> Sink<E> {
    /// A sink and the receiver its events arrive at.
    pub fn channel(waker: Waker) -> (Self, mpsc::UnboundedReceiver<E>) {
        let (events, receiver) = mpsc::unbounded_channel();
        (Self { events, waker }, receiver)
    }

    /// The same channel, whose reader is woken by `waker` instead (e.g. a repaint a moment
    /// later, for events that can wait to be shown together).
    pub fn with_waker(&self, waker: Waker) -> Self {
        Self {
            events: self.events.clone(),
            waker,
        }
    }

    /// Sends `event` and wakes the reader; nothing happens once the receiver is gone.
    pub fn emit(&self, event: E) {
        if self.events.send(event).is_ok() {
            (self.waker)();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[test]
    fn every_event_sent_wakes_the_reader_once_and_none_after_it_is_gone() {
        let wakes = Arc::new(AtomicUsize::new(0));
        let counter = wakes.clone();
        let (sink, mut events) = Sink::channel(Arc::new(move || {
            counter.fetch_add(1, Ordering::SeqCst);
        }));
        sink.clone().emit(1);
        sink.emit(2);
        assert_eq!(events.try_recv().ok(), Some(1));
        assert_eq!(events.try_recv().ok(), Some(2));
        assert_eq!(wakes.load(Ordering::SeqCst), 2);
        drop(events);
        sink.emit(3);
        assert_eq!(wakes.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn a_sink_with_another_waker_sends_down_the_same_channel_and_wakes_only_its_own() {
        let counter = |wakes: &Arc<AtomicUsize>| -> Waker {
            let wakes = wakes.clone();
            Arc::new(move || {
                wakes.fetch_add(1, Ordering::SeqCst);
            })
        };
        let (now, soon) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let (sink, mut events) = Sink::channel(counter(&now));
        let tiles = sink.with_waker(counter(&soon));
        sink.emit(1);
        tiles.emit(2);
        tiles.emit(3);
        assert_eq!(
            std::iter::from_fn(|| events.try_recv().ok()).collect::<Vec<_>>(),
            [1, 2, 3]
        );
        assert_eq!(now.load(Ordering::SeqCst), 1);
        assert_eq!(soon.load(Ordering::SeqCst), 2);
    }
}
