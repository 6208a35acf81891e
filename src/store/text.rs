//! Enums stored as their snake_case names in TEXT columns, on either backend.

use super::Db;
use serde::de::{value::StrDeserializer, IntoDeserializer};
use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;

/// Maps a unit-only enum to a TEXT column: written with its `as_str`, read with its serde
/// name (the two agree; a unit test per enum checks every variant).
macro_rules! text_column {
    ($($ty:ty),* $(,)?) => {$(
        impl sqlx::Type<Db> for $ty {
            fn type_info() -> sqlx::any::AnyTypeInfo {
                <&str as sqlx::Type<Db>>::type_info()
            }
            fn compatible(ty: &sqlx::any::AnyTypeInfo) -> bool {
                <&str as sqlx::Type<Db>>::compatible(ty)
            }
        }

        impl<'q> sqlx::Encode<'q, Db> for $ty {
            fn encode_by_ref(
                &self,
                buf: &mut <Db as sqlx::Database>::ArgumentBuffer<'q>,
            ) -> Result<IsNull, BoxDynError> {
                <&str as sqlx::Encode<'q, Db>>::encode(self.as_str(), buf)
            }
        }

        impl<'r> sqlx::Decode<'r, Db> for $ty {
            fn decode(value: <Db as sqlx::Database>::ValueRef<'r>) -> Result<Self, BoxDynError> {
                let text = <&str as sqlx::Decode<'r, Db>>::decode(value)?;
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

/// A 0/1 INTEGER column (or a boolean expression, which PostgreSQL types as BOOLEAN) read
/// as a `bool`: `#[sqlx(try_from = "Flag")]` on a row field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flag(pub bool);

impl From<Flag> for bool {
    fn from(flag: Flag) -> Self {
        flag.0
    }
}

impl sqlx::Type<Db> for Flag {
    fn type_info() -> sqlx::any::AnyTypeInfo {
        <i64 as sqlx::Type<Db>>::type_info()
    }
    fn compatible(ty: &sqlx::any::AnyTypeInfo) -> bool {
        <i64 as sqlx::Type<Db>>::compatible(ty) || <bool as sqlx::Type<Db>>::compatible(ty)
    }
}

impl<'r> sqlx::Decode<'r, Db> for Flag {
    fn decode(value: <Db as sqlx::Database>::ValueRef<'r>) -> Result<Self, BoxDynError> {
        use sqlx::ValueRef as _;
        let is_bool = value.type_info().kind() == sqlx::any::AnyTypeInfoKind::Bool;
        if is_bool {
            Ok(Self(<bool as sqlx::Decode<'r, Db>>::decode(value)?))
        } else {
            Ok(Self(<i64 as sqlx::Decode<'r, Db>>::decode(value)? != 0))
        }
    }
}

/// A nullable [`Flag`]: `#[sqlx(try_from = "MaybeFlag")]` on an `Option<bool>` field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MaybeFlag(pub Option<bool>);

impl From<MaybeFlag> for Option<bool> {
    fn from(flag: MaybeFlag) -> Self {
        flag.0
    }
}

impl sqlx::Type<Db> for MaybeFlag {
    fn type_info() -> sqlx::any::AnyTypeInfo {
        <Flag as sqlx::Type<Db>>::type_info()
    }
    fn compatible(ty: &sqlx::any::AnyTypeInfo) -> bool {
        <Flag as sqlx::Type<Db>>::compatible(ty)
    }
}

impl<'r> sqlx::Decode<'r, Db> for MaybeFlag {
    fn decode(value: <Db as sqlx::Database>::ValueRef<'r>) -> Result<Self, BoxDynError> {
        use sqlx::ValueRef as _;
        if value.is_null() {
            return Ok(Self(None));
        }
        Ok(Self(Some(<Flag as sqlx::Decode<'r, Db>>::decode(value)?.0)))
    }
}

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
