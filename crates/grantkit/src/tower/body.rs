//! [`ReplayBody`]: a request body the layer can send a second time.

use std::collections::VecDeque;
use std::fmt;
use std::future::poll_fn;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::HeaderMap;
use http_body::{Body, Frame, SizeHint};

/// The part of a request body that was read before the request was sent: all of it (then
/// it can be sent again), or the first frames of a body that was still producing data.
#[derive(Clone, Debug, Default)]
pub(crate) struct Buffered {
    data: VecDeque<Bytes>,
    trailers: Option<HeaderMap>,
}

/// The request body the inner service receives from an [`AuthLayer`](super::AuthLayer)
/// set to [`replay`](super::AuthLayer::replay): the caller's body, or a copy of it for the
/// retry after a rejected token.
///
/// Its frames are the caller's, in order and unchanged. Before a request is sent, the layer
/// reads the frames the body has ready at once, up to the replay limit: a body that ends
/// there (a `Full`, a `String`, a tonic unary request) is kept and can be replayed; a body
/// still producing data (a client stream) or larger than the limit is sent as it comes — the
/// frames already read, then the rest — and is not retried.
pub struct ReplayBody<B> {
    prefix: VecDeque<Bytes>,
    trailers: Option<HeaderMap>,
    rest: Option<Pin<Box<B>>>,
}

impl<B> ReplayBody<B> {
    /// The body as it is, nothing read (a request the layer does not authenticate).
    pub(crate) fn passthrough(body: B) -> Self {
        ReplayBody {
            prefix: VecDeque::new(),
            trailers: None,
            rest: Some(Box::pin(body)),
        }
    }

    pub(crate) fn buffered(buffered: Buffered) -> Self {
        ReplayBody {
            prefix: buffered.data,
            trailers: buffered.trailers,
            rest: None,
        }
    }
}

impl<B> fmt::Debug for ReplayBody<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The bytes may be secrets (a form with a password): only sizes.
        f.debug_struct("ReplayBody")
            .field(
                "buffered_bytes",
                &self.prefix.iter().map(Bytes::len).sum::<usize>(),
            )
            .field("trailers", &self.trailers.is_some())
            .field("streaming", &self.rest.is_some())
            .finish()
    }
}

impl<B> Body for ReplayBody<B>
where
    B: Body<Data = Bytes>,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let this = &mut *self;
        if let Some(data) = this.prefix.pop_front() {
            return Poll::Ready(Some(Ok(Frame::data(data))));
        }
        if let Some(trailers) = this.trailers.take() {
            return Poll::Ready(Some(Ok(Frame::trailers(trailers))));
        }
        match &mut this.rest {
            Some(rest) => rest.as_mut().poll_frame(cx),
            None => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.prefix.is_empty()
            && self.trailers.is_none()
            && self.rest.as_ref().is_none_or(|r| r.is_end_stream())
    }

    fn size_hint(&self) -> SizeHint {
        let buffered = self.prefix.iter().map(|b| b.len() as u64).sum::<u64>();
        match &self.rest {
            None => SizeHint::with_exact(buffered),
            Some(rest) => {
                let hint = rest.size_hint();
                let mut sum = SizeHint::new();
                sum.set_lower(hint.lower().saturating_add(buffered));
                if let Some(upper) = hint.upper() {
                    sum.set_upper(upper.saturating_add(buffered));
                }
                sum
            }
        }
    }
}

/// Reads the frames `body` has ready now, up to `limit` bytes of data. Returns the body to
/// send first, and a copy to replay when the whole body was read.
///
/// # Errors
/// The body's own error, when it fails while being read.
pub(crate) async fn read_ready<B>(
    body: B,
    limit: usize,
) -> Result<(ReplayBody<B>, Option<Buffered>), B::Error>
where
    B: Body<Data = Bytes>,
{
    let mut body = Box::pin(body);
    let mut read = Buffered::default();
    let mut size = 0usize;
    let complete = loop {
        if body.is_end_stream() {
            break true;
        }
        // One poll: Pending means the body is still producing (a stream), and waiting for
        // it here could deadlock a call whose next message depends on the answer.
        let polled = poll_fn(|cx| Poll::Ready(body.as_mut().poll_frame(cx))).await;
        match polled {
            Poll::Pending => break false,
            Poll::Ready(None) => break true,
            Poll::Ready(Some(Err(e))) => return Err(e),
            Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                Ok(data) => {
                    size = size.saturating_add(data.len());
                    read.data.push_back(data);
                    if size > limit {
                        break false;
                    }
                }
                Err(frame) => {
                    if let Ok(trailers) = frame.into_trailers() {
                        read.trailers = Some(trailers);
                    }
                }
            },
        }
    };
    if complete {
        Ok((ReplayBody::buffered(read.clone()), Some(read)))
    } else {
        let first = ReplayBody {
            prefix: read.data,
            trailers: read.trailers,
            rest: Some(body),
        };
        Ok((first, None))
    }
}
