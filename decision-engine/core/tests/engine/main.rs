//! The engine's integration tests, in one binary: hand-worked households
//! (`examples`), test cases carried by a version (`cases`), refusals of bad input and bad policy (`bad_input`), the
//! layering of red lines and institution rules (`layers`), the product
//! catalogue and the second product's hand-worked households (`products`),
//! segments choosing the scorecard (`segments`),
//! properties
//! that hold for any household (`properties`), the compact decision record
//! rendered back (`record`), and the typed evaluator against evalexpr
//! (`typed`).

mod application;
mod bad_input;
mod card_derived;
mod cases;
mod counterfactuals;
mod examples;
mod layers;
mod monitor;
mod products;
mod properties;
mod record;
mod segments;
mod typed;
