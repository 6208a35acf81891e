//! Enums stored as their snake_case names in TEXT columns, on both backends.

use serde::de::{value::StrDeserializer, IntoDeserializer};
use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::Database;

/// Maps a unit-only enum to a TEXT column: written with its `as_str`, read with its serde
/// name (the two agree; a unit test per enum checks every variant).
macro_rules! text_column {
    ($($ty:ty),* $(,)?) => {$(
        impl<DB: Database> sqlx::Type<DB> for $ty
        where
            str: sqlx::Type<DB>,
        {
            fn type_info() -> DB::TypeInfo {
                <str as sqlx::Type<DB>>::type_info()
            }
            fn compatible(ty: &DB::TypeInfo) -> bool {
                <str as sqlx::Type<DB>>::compatible(ty)
            }
        }

        impl<'q, DB: Database> sqlx::Encode<'q, DB> for $ty
        where
            &'q str: sqlx::Encode<'q, DB>,
        {
            fn encode_by_ref(
                &self,
                buf: &mut DB::ArgumentBuffer<'q>,
            ) -> Result<IsNull, BoxDynError> {
                <&'q str as sqlx::Encode<'q, DB>>::encode(self.as_str(), buf)
            }
        }

        impl<'r, DB: Database> sqlx::Decode<'r, DB> for $ty
        where
            &'r str: sqlx::Decode<'r, DB>,
        {
            fn decode(value: DB::ValueRef<'r>) -> Result<Self, BoxDynError> {
                let text = <&'r str as sqlx::Decode<'r, DB>>::decode(value)?;
                parse(text)
            }
        }
    )*};
}

fn parse<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, BoxDynError> {
    let de: StrDeserializer<'_, serde::de::value::Error> = text.into_deserializer();
    T::deserialize(de).map_err(|e| format!("unknown stored value {text:?}: {e}").into())
}

use crate::domain::bypass::BypassStatus;
use crate::domain::call::{CallStatus, ExecutionResult};
use crate::domain::change_request::ChangeStatus;
use crate::domain::grant::GrantStatus;
use crate::domain::notify::{ChannelKind, NoticeKind};
use crate::domain::review::Verdict;
use crate::domain::Role;

text_column!(
    BypassStatus,
    CallStatus,
    ExecutionResult,
    ChangeStatus,
    GrantStatus,
    ChannelKind,
    NoticeKind,
    Verdict,
    Role
);

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trips<T: serde::de::DeserializeOwned + PartialEq + std::fmt::Debug + Copy>(
        all: &[T],
        name: impl Fn(T) -> &'static str,
    ) {
        for &v in all {
            assert_eq!(parse::<T>(name(v)).unwrap(), v, "{}", name(v));
        }
    }

    #[test]
    fn stored_names_read_back() {
        round_trips(&CallStatus::ALL, CallStatus::as_str);
        use ExecutionResult as X;
        round_trips(&[X::Succeeded, X::ToolError, X::Failed], X::as_str);
        round_trips(
            &[Role::Viewer, Role::Approver, Role::Manager, Role::Admin],
            Role::as_str,
        );
        round_trips(&[Verdict::Approve, Verdict::Deny], Verdict::as_str);
        use BypassStatus as B;
        round_trips(
            &[
                B::Pending,
                B::Active,
                B::Denied,
                B::Expired,
                B::Revoked,
                B::Ended,
            ],
            B::as_str,
        );
        use ChangeStatus as C;
        round_trips(
            &[C::Pending, C::Applied, C::Denied, C::Expired, C::Withdrawn],
            C::as_str,
        );
        use GrantStatus as G;
        round_trips(&[G::Active, G::Revoked, G::Ended], G::as_str);
        use ChannelKind as K;
        round_trips(&[K::Slack, K::Email, K::Webhook], K::as_str);
        use NoticeKind as N;
        round_trips(
            &[N::Gated, N::Reminder, N::Escalated, N::AuditHead],
            N::as_str,
        );
        assert!(parse::<CallStatus>("nonsense").is_err());
    }
}
