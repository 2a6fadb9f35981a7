//! An `async fn` cached: the value is stored when the future completes.
//! Any executor works; this example polls the future itself, so it needs
//! no runtime crate. `cargo run --example async_call`

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use permacache::permacached;

permacached! {
    "examples/async_call/fetch" =>
    async fn fetch(id: u32) -> String {
        println!("  fetching {id}");
        format!("record {id}")
    }
}

fn main() {
    println!("{}", block_on(fetch!(7)));
    println!("{}", block_on(fetch!(7)));
}

/// Runs a future on this thread until it completes.
fn block_on<F: Future>(future: F) -> F::Output {
    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut future = pin!(future);
    loop {
        match future.as_mut().poll(&mut Context::from_waker(&waker)) {
            Poll::Ready(out) => return out,
            Poll::Pending => std::thread::park(),
        }
    }
}
