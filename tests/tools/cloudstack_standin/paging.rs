//! `page` and `pagesize`, read the way CloudStack's list commands read them (`BaseListCmd`), shared by every list
//! command the stand-in answers.
//!
//! - `page` and `pagesize` come together; `pagesize` may not exceed the server's `default.page.size`; without them
//!   only the first `default.page.size` rows come back (a client that forgets to page silently misses rows).
//! - Stricter than CloudStack on purpose: `page < 1`, `pagesize < 1` and `pagesize=-1` are refused rather than
//!   quietly reinterpreted, so a client that relies on those corners is caught.

use crate::api_error::ApiError;
use crate::signature::Params;

/// Which rows of the matching ones a request gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Paging {
    /// Index of the first row of the page among all matching rows (the SQL OFFSET).
    pub first: usize,
    /// Most rows in the answer (the SQL LIMIT).
    pub page_size: usize,
    /// The `page` parameter as sent (faults wait for a page number).
    pub page: Option<i64>,
}

/// Reads a 32-bit integer parameter as CloudStack's `Integer` parameters are read.
pub fn integer(params: &Params, name: &str) -> Result<Option<i64>, ApiError> {
    match params.get(name) {
        None => Ok(None),
        Some(text) => text.parse::<i32>().map(|n| Some(i64::from(n))).map_err(|_| {
            ApiError::bad_parameter(format!("invalid value '{text}' for parameter {name}: not an integer"))
        }),
    }
}

impl Paging {
    /// Checks `page` and `pagesize`; `Err` is the 431 CloudStack would answer.
    pub fn from_params(params: &Params, default_page_size: u32) -> Result<Paging, ApiError> {
        let page = integer(params, "page")?;
        let page_size = integer(params, "pagesize")?;
        let limit = i64::from(default_page_size);
        let (first, page_size) = match (page, page_size) {
            (None, None) => (0, limit),
            (Some(_), None) => {
                return Err(ApiError::bad_parameter("parameter pagesize is required when page is given"))
            }
            (None, Some(_)) => {
                return Err(ApiError::bad_parameter("parameter page is required when pagesize is given"))
            }
            (Some(page), Some(size)) => {
                if size < 1 {
                    return Err(ApiError::bad_parameter(format!("pagesize must be between 1 and {limit}, not {size}")));
                }
                if size > limit {
                    return Err(ApiError::bad_parameter(format!(
                        "pagesize {size} exceeds the largest allowed page size {limit}"
                    )));
                }
                if page < 1 {
                    return Err(ApiError::bad_parameter(format!("page must be 1 or more, not {page}")));
                }
                ((page - 1) * size, size)
            }
        };
        Ok(Paging {
            // Both fit: `first` is at most (2^31 - 1) * default page size, far below usize on 64-bit hosts.
            first: usize::try_from(first).unwrap_or(usize::MAX),
            page_size: usize::try_from(page_size).unwrap_or(usize::MAX),
            page,
        })
    }

    /// The rows of `matching` this page holds, and how many rows the OFFSET skipped to reach them.
    pub fn cut<T>(&self, matching: Vec<T>) -> (Vec<T>, usize) {
        let skipped = self.first.min(matching.len());
        (matching.into_iter().skip(self.first).take(self.page_size).collect(), skipped)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paging(pairs: &[(&str, &str)]) -> Result<Paging, ApiError> {
        Paging::from_params(&pairs.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect(), 500)
    }

    #[test]
    fn page_3_of_size_10_starts_at_row_20_and_skips_at_most_the_rows_there_are() {
        let page = paging(&[("page", "3"), ("pagesize", "10")]).unwrap();
        assert_eq!((page.first, page.page_size, page.page), (20, 10, Some(3)));
        assert_eq!(page.cut((0..25).collect()), ((20..25).collect(), 20));
        assert_eq!(page.cut((0..5).collect::<Vec<i32>>()), (vec![], 5), "an OFFSET past the end skips every row");
        assert_eq!(paging(&[]).unwrap(), Paging { first: 0, page_size: 500, page: None });
    }
}
