//! Support for the kind registries (field kinds, materials): an enum whose variants
//! wrap one type per kind, each in its own module, read from a scene file as struct
//! variants (`Luneburg(centre: (0, 0, 0), radius: 1)`), so files are written as
//! before while every kind's parameters are defined once.

use serde::Deserialize;

/// A variant's name, read as an identifier.
pub(crate) struct KindName(pub(crate) String);

impl<'de> Deserialize<'de> for KindName {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Name;
        impl serde::de::Visitor<'_> for Name {
            type Value = KindName;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a field kind's name")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<KindName, E> {
                Ok(KindName(v.to_owned()))
            }
        }
        d.deserialize_identifier(Name)
    }
}

/// A kind's parameters read from its enum variant as its type reads a struct: a scene
/// file writes `Luneburg(centre: (0, 0, 0), radius: 1)`, a struct variant, while the
/// parameters are one type in the kind's module.
pub(crate) struct VariantFields<A>(pub(crate) A);

impl<'de, A: serde::de::VariantAccess<'de>> serde::Deserializer<'de> for VariantFields<A> {
    type Error = A::Error;

    fn deserialize_any<V: serde::de::Visitor<'de>>(self, visitor: V) -> Result<V::Value, A::Error> {
        self.0.struct_variant(&[], visitor)
    }

    fn deserialize_struct<V: serde::de::Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, A::Error> {
        self.0.struct_variant(fields, visitor)
    }

    /// A kind that is one value (`Constant((r, g, b))`): a newtype variant.
    fn deserialize_newtype_struct<V: serde::de::Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, A::Error> {
        self.0.newtype_variant_seed(Newtype(visitor))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
        byte_buf option unit unit_struct seq tuple tuple_struct map enum
        identifier ignored_any
    }
}

/// Hands a newtype variant's content to a newtype struct's visitor.
struct Newtype<V>(V);

impl<'de, V: serde::de::Visitor<'de>> serde::de::DeserializeSeed<'de> for Newtype<V> {
    type Value = V::Value;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<V::Value, D::Error> {
        self.0.visit_newtype_struct(d)
    }
}

/// A registry's enum: one variant per kind wrapping the kind's type (each kind's
/// module declared and its type re-exported), `From` each type, parsing as struct
/// variants, and `ordinal()` (the index in the registration list). Each registry
/// adds its own `KINDS` table and dispatch.
macro_rules! kind_enum {
    (
        $(#[$meta:meta])*
        $Enum:ident, $what:literal,
        $( $(#[$doc:meta])* $kind:ident($module:ident) ),* $(,)?
    ) => {
        $(
            mod $module;
            pub use $module::$kind;
        )*

        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq)]
        #[non_exhaustive]
        pub enum $Enum {
            $( $(#[$doc])* $kind($module::$kind), )*
        }

        $(
            impl From<$module::$kind> for $Enum {
                fn from(k: $module::$kind) -> Self {
                    Self::$kind(k)
                }
            }
        )*

        impl<'de> serde::Deserialize<'de> for $Enum {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                const VARIANTS: &[&str] = &[$( stringify!($kind), )*];
                struct Kinds;
                impl<'de> serde::de::Visitor<'de> for Kinds {
                    type Value = $Enum;
                    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                        f.write_str($what)
                    }
                    fn visit_enum<A: serde::de::EnumAccess<'de>>(
                        self,
                        data: A,
                    ) -> Result<$Enum, A::Error> {
                        let (crate::kinds::KindName(name), variant) = data.variant()?;
                        match name.as_str() {
                            $( stringify!($kind) => <$module::$kind as serde::Deserialize>::deserialize(
                                crate::kinds::VariantFields(variant),
                            )
                            .map($Enum::$kind), )*
                            other => Err(serde::de::Error::unknown_variant(other, VARIANTS)),
                        }
                    }
                }
                d.deserialize_enum(stringify!($Enum), VARIANTS, Kinds)
            }
        }

        impl $Enum {
            /// Its index in the registration list.
            fn ordinal(&self) -> usize {
                let mut k = 0;
                $(
                    if matches!(self, Self::$kind(_)) {
                        return k;
                    }
                    k += 1;
                )*
                let _ = k;
                unreachable!("every kind is registered")
            }
        }
    };
}

pub(crate) use kind_enum;
