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
}
