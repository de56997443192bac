//! The bodies around a request: [`Limited`] follows gRPC framing on the way in and refuses an
//! oversized message; [`Tracked`] keeps the request in flight until its response is over, and
//! ends a gRPC stream that is still open when the server stops.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::{Body, Bytes};
use http::{HeaderMap, HeaderValue};
use http_body::Frame;
use hyper::body::Incoming;
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

use super::watch::InFlight;

/// A request body; over gRPC, each message's length prefix is checked as it arrives.
///
/// tonic refuses a message over `max_decoding_message_size` with OUT_OF_RANGE
/// (tonic-0.14.9/src/codec/decode.rs:218), where gRPC's own implementations and the SPEC say
/// RESOURCE_EXHAUSTED. Failing the body with a `Status` instead makes tonic answer with that
/// status (it looks for one in a body error's source chain), before it buffers any of the
/// message, and for every gRPC service on the listener whether or not it set its own bound.
pub struct Limited {
    body: Incoming,
    frames: Option<Framing>,
}

impl Limited {
    /// `max_message` applies when the request is gRPC.
    pub fn new(body: Incoming, max_message: Option<usize>) -> Limited {
        Limited {
            body,
            frames: max_message.map(Framing::new),
        }
    }
}

struct Framing {
    max: u64,
    prefix: [u8; 5],
    have: usize,
    /// Message bytes still to pass before the next prefix.
    skip: u64,
}

impl Framing {
    fn new(max: usize) -> Framing {
        Framing {
            max: u64::try_from(max).unwrap_or(u64::MAX),
            prefix: [0; 5],
            have: 0,
            skip: 0,
        }
    }

    /// Follows the gRPC framing (1 flag byte, 4 length bytes, the message) through `data`;
    /// the length of the first message over the bound, if any.
    fn feed(&mut self, mut data: &[u8]) -> Result<(), u64> {
        while !data.is_empty() {
            if self.skip > 0 {
                let n = data
                    .len()
                    .min(usize::try_from(self.skip).unwrap_or(usize::MAX));
                self.skip -= n as u64;
                data = &data[n..];
                continue;
            }
            let n = data.len().min(5 - self.have);
            self.prefix[self.have..self.have + n].copy_from_slice(&data[..n]);
            self.have += n;
            data = &data[n..];
            if self.have == 5 {
                let [_, a, b, c, d] = self.prefix;
                let len = u64::from(u32::from_be_bytes([a, b, c, d]));
                if len > self.max {
                    return Err(len);
                }
                self.skip = len;
                self.have = 0;
            }
        }
        Ok(())
    }
}

impl http_body::Body for Limited {
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::BoxError>>> {
        let this = &mut *self;
        let polled = Pin::new(&mut this.body).poll_frame(cx);
        if let (Poll::Ready(Some(Ok(frame))), Some(frames)) = (&polled, &mut this.frames)
            && let Some(data) = frame.data_ref()
            && let Err(len) = frames.feed(data)
        {
            let max = frames.max;
            let status = tonic::Status::resource_exhausted(format!(
                "message of {len} bytes is over the limit of {max} bytes"
            ));
            return Poll::Ready(Some(Err(Box::new(status))));
        }
        polled.map(|f| f.map(|r| r.map_err(Into::into)))
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

/// A response body that keeps its request in flight until the last frame has been taken.
///
/// A gRPC response still streaming when the server stops (a health `Watch`) would otherwise
/// hold the drain for its whole bound: it is ended with UNAVAILABLE trailers instead, so its
/// client reconnects elsewhere. Unary responses never wait, so pay nothing for it.
pub struct Tracked {
    body: Body,
    work: Option<InFlight>,
    /// Set for gRPC responses.
    stop: Option<CancellationToken>,
    stopping: Option<Pin<Box<WaitForCancellationFutureOwned>>>,
    ended: bool,
}

impl Tracked {
    pub fn new(body: Body, work: InFlight, grpc_stop: Option<CancellationToken>) -> Tracked {
        Tracked {
            body,
            work: Some(work),
            stop: grpc_stop,
            stopping: None,
            ended: false,
        }
    }
}

fn shutting_down() -> HeaderMap {
    let mut trailers = HeaderMap::new();
    trailers.insert("grpc-status", HeaderValue::from_static("14"));
    trailers.insert(
        "grpc-message",
        HeaderValue::from_static("server%20shutting%20down"),
    );
    trailers
}

impl http_body::Body for Tracked {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = &mut *self;
        if this.ended {
            return Poll::Ready(None);
        }
        let polled = Pin::new(&mut this.body).poll_frame(cx);
        match &polled {
            Poll::Ready(None | Some(Err(_))) => this.work = None,
            Poll::Ready(Some(Ok(_))) => {}
            Poll::Pending => {
                if let Some(stop) = &this.stop {
                    let stopping = this
                        .stopping
                        .get_or_insert_with(|| Box::pin(stop.clone().cancelled_owned()));
                    if stopping.as_mut().poll(cx).is_ready() {
                        this.ended = true;
                        this.work = None;
                        return Poll::Ready(Some(Ok(Frame::trailers(shutting_down()))));
                    }
                }
            }
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.ended || self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        if self.ended {
            return http_body::SizeHint::with_exact(0);
        }
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(len: u32) -> Vec<u8> {
        let mut m = vec![0];
        m.extend_from_slice(&len.to_be_bytes());
        m.resize(5 + len as usize, b'x');
        m
    }

    #[test]
    fn grpc_framing_is_followed_across_frames_and_an_oversized_prefix_is_caught() {
        let mut f = Framing::new(100);
        let mut stream = message(100);
        stream.extend(message(3));
        // Any split into frames reads the same.
        for chunk in stream.chunks(2) {
            assert_eq!(f.feed(chunk), Ok(()));
        }
        assert_eq!((f.have, f.skip), (0, 0));
        let over = message(101);
        assert_eq!(f.feed(&over[..3]), Ok(()));
        assert_eq!(f.feed(&over[3..5]), Err(101));
        // A 4 GiB prefix is refused before a byte of it is buffered.
        let mut f = Framing::new(65_536);
        assert_eq!(
            f.feed(&[0, 0xff, 0xff, 0xff, 0xff]),
            Err(u64::from(u32::MAX))
        );
    }
}
