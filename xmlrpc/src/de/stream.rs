//! Deserializing straight from the decoder's token stream (`decode_response_as`): no `Value`
//! tree is built; struct members and array items are read as the visitor asks for them.

use serde::de::{self, DeserializeSeed, Visitor};

use crate::de::{dispatch_hints, one_member_error, Result, ScalarDe};
use crate::decode::parser::{Container, Head, Parser, Scalar};
use crate::error::{Error, ErrorKind};

/// The rest of one value in the input stream, its head already read.
pub(crate) struct HeadDe<'p, 'de> {
    p: &'p mut Parser<'de>,
    head: Head<'de>,
    start: usize,
}

impl<'p, 'de> HeadDe<'p, 'de> {
    /// Reads the head of the value whose `<value>` start tag was just consumed.
    pub(crate) fn read(p: &'p mut Parser<'de>, empty: bool) -> Result<Self> {
        let start = p.offset;
        let head = p.read_head(empty)?;
        Ok(HeadDe { p, head, start })
    }

    fn dispatch<V, F>(self, v: V, scalar: F) -> Result<V::Value>
    where
        V: Visitor<'de>,
        F: FnOnce(ScalarDe<'de>, V) -> Result<V::Value>,
    {
        let start = self.start;
        match self.head {
            Head::Scalar(s) => scalar(ScalarDe(s), v).map_err(|e| e.at_if_unlocated(start)),
            Head::Struct(c) => {
                let mut map = StreamMap {
                    p: self.p,
                    c,
                    value_empty: false,
                };
                let r = v
                    .visit_map(&mut map)
                    .map_err(|e| e.at_if_unlocated(start))?;
                map.p.skip_members(&mut map.c)?;
                Ok(r)
            }
            Head::Array(c) => {
                let mut seq = StreamSeq { p: self.p, c };
                let r = v
                    .visit_seq(&mut seq)
                    .map_err(|e| e.at_if_unlocated(start))?;
                if seq.p.next_item(&mut seq.c)?.is_some() {
                    return Err(Error::new(
                        ErrorKind::Serde("array has more items than the target type takes".into()),
                        seq.p.offset,
                    ));
                }
                Ok(r)
            }
        }
    }
}

impl<'de> de::Deserializer<'de> for HeadDe<'_, 'de> {
    type Error = Error;

    dispatch_hints!();

    fn deserialize_option<V: Visitor<'de>>(self, v: V) -> Result<V::Value> {
        match self.head {
            Head::Scalar(Scalar::Nil) => v.visit_none(),
            _ => v.visit_some(self),
        }
    }
    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        v: V,
    ) -> Result<V::Value> {
        match self.head {
            Head::Scalar(_) => self.dispatch(v, |s, v| s.deserialize_newtype_struct(name, v)),
            _ => v.visit_newtype_struct(self),
        }
    }
    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        v: V,
    ) -> Result<V::Value> {
        let start = self.start;
        match self.head {
            Head::Struct(c) => v
                .visit_enum(StreamEnum { p: self.p, c })
                .map_err(|e| e.at_if_unlocated(start)),
            _ => self.dispatch(v, |s, v| s.deserialize_enum(name, variants, v)),
        }
    }
    fn deserialize_ignored_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value> {
        self.p.skip_head(self.head)?;
        v.visit_unit()
    }
}

/// Struct members straight from the input.
struct StreamMap<'p, 'de> {
    p: &'p mut Parser<'de>,
    c: Container,
    value_empty: bool,
}

impl<'de> de::MapAccess<'de> for StreamMap<'_, 'de> {
    type Error = Error;
    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>> {
        match self.p.next_member(&mut self.c)? {
            Some((name, value_empty)) => {
                self.value_empty = value_empty;
                let at = self.p.offset;
                seed.deserialize(ScalarDe(Scalar::Str(name)))
                    .map(Some)
                    .map_err(|e| e.at_if_unlocated(at))
            }
            None => Ok(None),
        }
    }
    fn next_value_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<S::Value> {
        seed.deserialize(HeadDe::read(self.p, self.value_empty)?)
    }
}

/// Array items straight from the input.
struct StreamSeq<'p, 'de> {
    p: &'p mut Parser<'de>,
    c: Container,
}

impl<'de> de::SeqAccess<'de> for StreamSeq<'_, 'de> {
    type Error = Error;
    fn next_element_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<Option<S::Value>> {
        match self.p.next_item(&mut self.c)? {
            Some(empty) => seed.deserialize(HeadDe::read(self.p, empty)?).map(Some),
            None => Ok(None),
        }
    }
}

/// A single-member struct as an enum variant, straight from the input.
struct StreamEnum<'p, 'de> {
    p: &'p mut Parser<'de>,
    c: Container,
}

impl<'p, 'de> de::EnumAccess<'de> for StreamEnum<'p, 'de> {
    type Error = Error;
    type Variant = StreamVariant<'p, 'de>;
    fn variant_seed<S: DeserializeSeed<'de>>(
        mut self,
        seed: S,
    ) -> Result<(S::Value, Self::Variant)> {
        match self.p.next_member(&mut self.c)? {
            Some((name, empty)) => {
                let variant = seed.deserialize(ScalarDe(Scalar::Str(name)))?;
                Ok((
                    variant,
                    StreamVariant {
                        p: self.p,
                        c: self.c,
                        empty,
                    },
                ))
            }
            None => Err(one_member_error()),
        }
    }
}

/// The member value of a [`StreamEnum`].
struct StreamVariant<'p, 'de> {
    p: &'p mut Parser<'de>,
    c: Container,
    empty: bool,
}

impl StreamVariant<'_, '_> {
    fn finish(mut self) -> Result<()> {
        match self.p.next_member(&mut self.c)? {
            None => Ok(()),
            Some(_) => Err(one_member_error().at_if_unlocated(self.p.offset)),
        }
    }
}

impl<'de> de::VariantAccess<'de> for StreamVariant<'_, 'de> {
    type Error = Error;
    fn unit_variant(self) -> Result<()> {
        self.p.skip_value(self.empty)?;
        self.finish()
    }
    fn newtype_variant_seed<S: DeserializeSeed<'de>>(self, seed: S) -> Result<S::Value> {
        let r = seed.deserialize(HeadDe::read(&mut *self.p, self.empty)?)?;
        self.finish()?;
        Ok(r)
    }
    fn tuple_variant<V: Visitor<'de>>(self, _: usize, v: V) -> Result<V::Value> {
        let r = de::Deserializer::deserialize_seq(HeadDe::read(&mut *self.p, self.empty)?, v)?;
        self.finish()?;
        Ok(r)
    }
    fn struct_variant<V: Visitor<'de>>(self, _: &'static [&'static str], v: V) -> Result<V::Value> {
        let r = de::Deserializer::deserialize_map(HeadDe::read(&mut *self.p, self.empty)?, v)?;
        self.finish()?;
        Ok(r)
    }
}
