//! Credit and spend per touch class: paid, owned and earned media.

use std::collections::BTreeMap;
use std::io::{self, Write};

use super::{Column, CreditColumns, MICROS, MONEY_DECIMALS, Reports, SpendTotals, fixed, roas};
use crate::attribution::CreditSums;
use crate::config::Config;
use crate::event::TouchClass;
use crate::output::CsvWriter;

/// Credit and spend per touch class, as `classes.csv` prints them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClassTable {
    /// The classes with at least one channel of the report, in class order,
    /// with their channels by name.
    pub members: BTreeMap<TouchClass, Vec<String>>,
    /// Per model, in the order of [`Reports::models`]: its name, each
    /// class's exact credit, and the credit as printed.
    pub models: Vec<(&'static str, BTreeMap<TouchClass, CreditSums>, CreditColumns<TouchClass>)>,
    /// Spend of the classes with spend rows, in millionths.
    pub spend: BTreeMap<TouchClass, i128>,
    /// That spend, as printed: it adds up to the period's spend.
    pub printed_spend: Column<TouchClass>,
}

impl ClassTable {
    /// ROAS of a class: credited revenue ÷ spend; `None` without spend rows
    /// or with spend 0, as for a channel.
    #[must_use]
    pub fn roas(&self, sums: CreditSums, class: TouchClass) -> Option<f64> {
        let spend = self.spend.get(&class).map(|&spend| SpendTotals { spend, ..SpendTotals::default() });
        roas(sums, spend.as_ref())
    }
}

impl Reports {
    /// Credit and spend per touch class, from `config`'s `channel_classes`
    /// (a channel it does not list is `unknown`), over every channel of the
    /// report, credited or with spend only.
    #[must_use]
    pub fn class_table(&self, config: &Config) -> ClassTable {
        let mut members: BTreeMap<TouchClass, Vec<String>> = BTreeMap::new();
        for channel in self.channel_names() {
            members.entry(config.class_of(&channel)).or_default().push(channel);
        }
        let models = self
            .models
            .iter()
            .map(|credit| {
                let sums: BTreeMap<TouchClass, CreditSums> = members
                    .iter()
                    .map(|(class, channels)| {
                        let mut class_sums = CreditSums::default();
                        for sums in channels.iter().filter_map(|channel| credit.channels.get(channel)) {
                            super::add(&mut class_sums, *sums);
                        }
                        (*class, class_sums)
                    })
                    .collect();
                let groups: Vec<(TouchClass, CreditSums)> = sums.iter().map(|(class, sums)| (*class, *sums)).collect();
                (credit.model, sums, CreditColumns::new(&groups, credit.total))
            })
            .collect();
        let spend: BTreeMap<TouchClass, i128> = members
            .iter()
            .filter_map(|(class, channels)| {
                let rows: Vec<i128> = channels
                    .iter()
                    .filter_map(|channel| self.spend.channels.get(channel))
                    .map(|spend| spend.spend)
                    .collect();
                (!rows.is_empty()).then(|| (*class, rows.iter().sum()))
            })
            .collect();
        let printed_spend = Column::sums(spend.iter().map(|(class, spend)| (*class, *spend)), MICROS, MONEY_DECIMALS);
        ClassTable { members, models, spend, printed_spend }
    }

    /// `classes.csv`: per model and touch class, credited conversions and
    /// revenue, their shares, spend and ROAS.
    ///
    /// # Errors
    ///
    /// Whatever the sink returns.
    pub fn write_classes(&self, sink: &mut dyn Write, config: &Config) -> io::Result<()> {
        let mut writer = CsvWriter::new(sink);
        writer.record(
            ["model", "class", "conversions", "revenue", "share_of_conversions", "share_of_revenue", "spend", "roas"]
                .map(Some),
        )?;
        let table = self.class_table(config);
        for (model, sums, printed) in &table.models {
            for class in table.members.keys() {
                let fields = [
                    (*model).to_owned(),
                    class.as_str().to_owned(),
                    printed.conversions.cell(class),
                    printed.revenue.cell(class),
                    printed.share_of_conversions.cell(class),
                    printed.share_of_revenue.cell(class),
                    table.printed_spend.cell(class),
                    fixed(table.roas(sums.get(class).copied().unwrap_or_default(), *class), 4),
                ];
                writer.record(fields.iter().map(|field| Some(field.as_str())))?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::tests::thirds;

    #[test]
    fn classes_add_up_and_carry_spend_and_roas() {
        let reports = thirds();
        let channel_classes = [("a", TouchClass::Paid), ("b", TouchClass::Paid), ("c", TouchClass::Owned)]
            .map(|(channel, class)| (channel.to_owned(), class))
            .into();
        let config = Config { channel_classes, ..Config::default() };
        let mut bytes = Vec::new();
        reports.write_classes(&mut bytes, &config).unwrap();
        // Paid holds 0.666666666 conversions and 6.666666 of revenue, owned
        // the rest: paid has the larger remainders and takes the missing
        // units. Paid's spend is a's and b's, 3.01; owned has none.
        assert_eq!(
            String::from_utf8(bytes).unwrap(),
            "model,class,conversions,revenue,share_of_conversions,share_of_revenue,spend,roas\n\
             linear,paid,0.666667,6.67,66.6667,66.6667,3.01,2.2148\n\
             linear,owned,0.333333,3.33,33.3333,33.3333,,\n"
        );
    }
}
