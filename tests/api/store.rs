//! The store's own surface, on both backends.

use crate::on_both_backends;

on_both_backends! {
    async fn ping_answers_while_the_database_does_and_fails_once_it_is_gone(t) {
        t.app.store.ping().await.expect("a live database answers");
        t.app.store.close().await;
        assert!(t.app.store.ping().await.is_err(), "a closed store cannot answer");
    }
}
