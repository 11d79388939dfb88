//! VECTORS.md's WeChat safe-mode demo vector, shared by the tests of
//! several modules so that each checks its step against the same published
//! values.

pub(crate) const DEMO_TOKEN: &str = "spamtest";
pub(crate) const DEMO_KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
pub(crate) const DEMO_APPID: &str = "wx2c2769f8efd9abc2";
pub(crate) const DEMO_TIMESTAMP: &str = "1409735669";
pub(crate) const DEMO_NONCE: &str = "1320562132";
pub(crate) const DEMO_MSG_SIGNATURE: &str = "5d197aaffba7e9b25a30732f161a50dee96bd5fa";
pub(crate) const DEMO_ENCRYPT: &str = "hyzAe4OzmOMbd6TvGdIOO6uBmdJoD0Fk53REIHvxYtJlE2B655HuD0m8KUePWB3+LrPXo87wzQ1QLvbeUgmBM4x6F8PGHQHFVAFmOD2LdJF9FrXpbUAh0B5GIItb52sn896wVsMSHGuPE328HnRGBcrS7C41IzDWyWNlZkyyXwon8T332jisa+h6tEDYsVticbSnyU8dKOIbgU6ux5VTjg3yt+WGzjlpKn6NPhRjpA912xMezR4kw6KWwMrCVKSVCZciVGCgavjIQ6X8tCOp3yZbGpy0VxpAe+77TszTfRd5RJSVO/HTnifJpXgCSUdUue1v6h0EIBYYI1BD1DlD+C0CR8e6OewpusjZ4uBl9FyJvnhvQl+q5rv1ixrcpCumEPo5MJSgM9ehVsNPfUM669WuMyVWQLCzpu9GhglF2PE=";
pub(crate) const DEMO_XML: &str = "<xml><ToUserName><![CDATA[gh_10f6c3c3ac5a]]></ToUserName>\n<FromUserName><![CDATA[oyORnuP8q7ou2gfYjqLzSIWZf0rs]]></FromUserName>\n<CreateTime>1409735668</CreateTime>\n<MsgType><![CDATA[text]]></MsgType>\n<Content><![CDATA[abcdteT]]></Content>\n<MsgId>6054768590064713728</MsgId>\n</xml>";

/// The demo account's keys.
pub(crate) fn demo_keys() -> crate::AccountKeys {
    crate::AccountKeys::new(
        DEMO_APPID,
        secrecy::SecretString::from(DEMO_TOKEN),
        Some(secrecy::SecretString::from(DEMO_KEY)),
    )
    .unwrap_or_else(|e| panic!("the demo keys are valid: {e}"))
}

/// The body WeChat posts in safe mode for the demo vector.
pub(crate) fn demo_body() -> String {
    format!("<xml><ToUserName><![CDATA[gh_10f6c3c3ac5a]]></ToUserName><Encrypt><![CDATA[{DEMO_ENCRYPT}]]></Encrypt></xml>")
}

/// The query WeChat sends with the demo vector's body.
pub(crate) fn demo_query() -> crate::PushQuery {
    crate::PushQuery {
        signature: Some(crate::signature(&[DEMO_TOKEN, DEMO_TIMESTAMP, DEMO_NONCE])),
        timestamp: Some(DEMO_TIMESTAMP.into()),
        nonce: Some(DEMO_NONCE.into()),
        openid: Some("oyORnuP8q7ou2gfYjqLzSIWZf0rs".into()),
        encrypt_type: Some("aes".into()),
        msg_signature: Some(DEMO_MSG_SIGNATURE.into()),
        echostr: None,
    }
}
